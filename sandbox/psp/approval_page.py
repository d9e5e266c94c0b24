"""The payer's page of a redirect-and-approve simulator: one form (who logs in, approve or
decline), then back to the merchant's return URL. Plain HTML, every value escaped."""

from __future__ import annotations

from html import escape

from aiohttp import web

from core.payments.acquirer import AuthorizationOutcome, AuthorizationResult
from core.shared.money import Money


def _money(amount: Money) -> str:
    return f"{amount.currency} {amount.amount // 100}.{amount.amount % 100:02d}"


def form(
    *,
    title: str,
    result: AuthorizationResult,
    login_label: str,
    login_name: str,
    approve_label: str,
    decline_label: str,
) -> web.Response:
    waiting = result.outcome is AuthorizationOutcome.REQUIRES_ACTION
    body = (
        f"<h1>{escape(title)}</h1>"
        f"<p>Pay <strong>{escape(_money(result.amount))}</strong> "
        f"(order {escape(result.attempt_reference)}).</p>"
    )
    if waiting:
        body += (
            '<form method="post">'
            f'<label>{escape(login_label)} <input name="{login_name}" required></label> '
            f'<button name="decision" value="approve">{escape(approve_label)}</button> '
            f'<button name="decision" value="decline" formnovalidate>{escape(decline_label)}'
            "</button></form>"
        )
    else:
        body += f'<p id="status">{escape(result.outcome.value.lower())}</p>'
    return web.Response(text=_page(title, body), content_type="text/html")


def answered(title: str, result: AuthorizationResult, return_url: str) -> web.StreamResponse:
    """After the payer's answer: back to the merchant, or a page that says what happened."""
    if return_url.startswith(("http://", "https://")):
        raise web.HTTPSeeOther(return_url)
    status = escape(result.outcome.value.lower())
    body = f'<h1>{escape(title)}</h1><p id="status">{status}</p>'
    return web.Response(text=_page(title, body), content_type="text/html")


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body>{body}</body></html>"
    )
