"""The texts of receipts and alerts: plain text and HTML, amounts in the reader's locale.

Templates are string.Template (no logic in them; nothing a merchant or a shopper typed is
ever evaluated), and every value put into the HTML is escaped. The values come from the
event's object as the API renders it, which carries no card data; a receipt shows at most
the brand and last four digits, never more.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from decimal import Decimal
from string import Template
from typing import Any

from babel.core import Locale, UnknownLocaleError
from babel.numbers import format_currency

from core.notifications.model import Content, EmailKind
from core.shared.money import CURRENCY_EXPONENTS

DEFAULT_LOCALE = "en_US"


def format_amount(amount: int, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """Minor units as the locale writes money: 2500 EUR -> "€25.00" (en_US), "25,00 €" (de_DE)."""
    code = currency.upper()
    value = Decimal(amount).scaleb(-CURRENCY_EXPONENTS.get(code, 2))
    return format_currency(value, code, locale=_locale(locale))


def _locale(name: str) -> str:
    try:
        Locale.parse(name)
    except (ValueError, UnknownLocaleError):
        return DEFAULT_LOCALE
    return name


_TEXTS: dict[EmailKind, tuple[str, str, str]] = {
    EmailKind.PAYMENT_RECEIPT: (
        "Your receipt from ${merchant}",
        "Thank you for your payment to ${merchant}.\n\n"
        "Amount paid: ${amount}\n${card_line}${description_line}"
        "Payment reference: ${payment}\nDate: ${date}\n",
        "<p>Thank you for your payment to <strong>${merchant}</strong>.</p>"
        "<table><tr><td>Amount paid</td><td><strong>${amount}</strong></td></tr>"
        "${card_row}${description_row}"
        "<tr><td>Payment reference</td><td>${payment}</td></tr>"
        "<tr><td>Date</td><td>${date}</td></tr></table>",
    ),
    EmailKind.REFUND_RECEIPT: (
        "Your refund from ${merchant}",
        "${merchant} has refunded ${amount} to you.\n\n"
        "Refund reference: ${refund}\nPayment reference: ${payment}\nDate: ${date}\n"
        "It may take 5 to 10 business days to appear on your statement.\n",
        "<p><strong>${merchant}</strong> has refunded <strong>${amount}</strong> to you.</p>"
        "<table><tr><td>Refund reference</td><td>${refund}</td></tr>"
        "<tr><td>Payment reference</td><td>${payment}</td></tr>"
        "<tr><td>Date</td><td>${date}</td></tr></table>"
        "<p>It may take 5 to 10 business days to appear on your statement.</p>",
    ),
    EmailKind.DISPUTE_ALERT: (
        "A payment of ${amount} was disputed",
        "A customer's bank disputed a payment to ${merchant}.\n\n"
        "Amount: ${amount}\nReason: ${reason}\nDispute: ${dispute}\nPayment: ${payment}\n\n"
        "Submit evidence before the deadline: POST /v1/disputes/${dispute}/evidence.\n",
        "<p>A customer's bank disputed a payment to <strong>${merchant}</strong>.</p>"
        "<table><tr><td>Amount</td><td><strong>${amount}</strong></td></tr>"
        "<tr><td>Reason</td><td>${reason}</td></tr>"
        "<tr><td>Dispute</td><td>${dispute}</td></tr>"
        "<tr><td>Payment</td><td>${payment}</td></tr></table>"
        "<p>Submit evidence before the deadline: "
        "<code>POST /v1/disputes/${dispute}/evidence</code>.</p>",
    ),
    EmailKind.WEBHOOK_DISABLED_ALERT: (
        "Webhook endpoint disabled: ${url}",
        "paygate stopped sending events to a webhook endpoint of ${merchant}.\n\n"
        "Endpoint: ${endpoint}\nURL: ${url}\nWhy: ${reason}\n\n"
        "Fix the endpoint, enable it again (POST /v1/webhook_endpoints/${endpoint}) and "
        "replay the events it missed.\n",
        "<p>paygate stopped sending events to a webhook endpoint of "
        "<strong>${merchant}</strong>.</p>"
        "<table><tr><td>Endpoint</td><td>${endpoint}</td></tr>"
        "<tr><td>URL</td><td>${url}</td></tr>"
        "<tr><td>Why</td><td>${reason}</td></tr></table>"
        "<p>Fix the endpoint, enable it again and replay the events it missed.</p>",
    ),
}

_HTML_PAGE = Template(
    '<!doctype html><html><head><meta charset="utf-8"><title>${subject}</title></head>'
    '<body style="font-family: sans-serif">${body}</body></html>'
)


def render(kind: EmailKind, values: Mapping[str, str]) -> Content:
    """The email of `kind` with `values` (plain strings; escaped here for the HTML)."""
    subject, text, body = _TEXTS[kind]
    plain = dict(values)
    escaped = {key: html.escape(value) for key, value in values.items()}
    plain.setdefault("card_line", _line("Card", plain.get("card", "")))
    plain.setdefault("description_line", _line("For", plain.get("description", "")))
    escaped["card_row"] = _row("Card", values.get("card", ""))
    escaped["description_row"] = _row("For", values.get("description", ""))
    for key in ("card_line", "description_line"):
        escaped.setdefault(key, "")
    for key in ("card_row", "description_row"):
        plain.setdefault(key, "")
    subject_text = Template(subject).safe_substitute(plain)
    html_body = _HTML_PAGE.substitute(
        subject=html.escape(subject_text), body=Template(body).safe_substitute(escaped)
    )
    return Content(subject_text, Template(text).safe_substitute(plain), html_body)


def _line(label: str, value: str) -> str:
    return f"{label}: {value}\n" if value else ""


def _row(label: str, value: str) -> str:
    return f"<tr><td>{label}</td><td>{html.escape(value)}</td></tr>" if value else ""


def card_label(card: Mapping[str, Any] | None) -> str:
    """ "Visa ending in 4242" from a card's brand and last4; never anything else of it."""
    if not card:
        return ""
    brand, last4 = str(card.get("brand", "")), str(card.get("last4", ""))
    if not (last4.isdigit() and len(last4) == 4):
        return ""
    return f"{brand.title() or 'Card'} ending in {last4}"
