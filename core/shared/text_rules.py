"""Rules for free text and URLs a merchant sends, shared by every context that takes them.

- Card numbers do not belong in free text (a description, metadata, a payout's
  description): such values are refused, as Stripe refuses them, rather than stored where
  the vault's protections do not reach. A value "looks like a PAN" when
  core.shared.redaction.mask_pans would mask something in it (a Luhn-valid run of 13-19
  digits, grouped or not).
- A return URL is where a browser is sent after a payment: an absolute http(s) URL with a
  host, of at most MAX_RETURN_URL characters, never `javascript:` or `data:` (which a
  checkout page redirecting to it would run).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from core.shared.redaction import mask_pans

MAX_RETURN_URL = 2000
PAN_IN_TEXT = "must not contain a card number: card data goes to the vault only"


def looks_like_pan(text: str) -> bool:
    return mask_pans(text) != text


def return_url_problem(url: str) -> str | None:
    """Why `url` cannot be a return URL, or None when it can (or is empty)."""
    if not url:
        return None
    if len(url) > MAX_RETURN_URL:
        return f"may be at most {MAX_RETURN_URL} characters"
    if not url.isprintable() or any(c.isspace() for c in url):
        return "must be a URL without spaces or control characters"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a URL"
    if parts.scheme.lower() not in ("https", "http") or not parts.hostname:
        return "must be an absolute http or https URL"
    return None
