"""The payer's page of a redirect-and-approve simulator: one form (who logs in, approve or
decline), then back to the merchant's return URL. Plain HTML, every value escaped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from aiohttp import web

from core.payments.acquirer import AuthorizationOutcome, AuthorizationResult
from core.shared.money import Money
from sandbox.psp.redirect_books import RedirectBooks


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


@dataclass
class ApprovalPage:
    """The page of one simulator: `GET` shows the form, `POST` takes the payer's answer.
    Routes name the payment `{ref}`."""

    books: RedirectBooks
    title_of: Callable[[str], str]  # the wallet or bank code -> the page's title
    login_label: str
    login_name: str
    decline_label: str

    async def show(self, request: web.Request) -> web.Response:
        result, method, _ = await self.books.page(request.match_info["ref"])
        return form(
            title=self.title_of(method),
            result=result,
            login_label=self.login_label,
            login_name=self.login_name,
            approve_label="Approve",
            decline_label=self.decline_label,
        )

    async def answer(self, request: web.Request) -> web.StreamResponse:
        reference = request.match_info["ref"]
        posted = await request.post()
        approve = posted.get("decision") == "approve"
        identity = str(posted.get(self.login_name, ""))
        result = await self.books.answer(reference, identity, approve)
        _, method, return_url = await self.books.page(reference)
        return answered(self.title_of(method), result, return_url)
