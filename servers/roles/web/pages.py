"""The hosted checkout's page and the 3-D Secure challenge pages as HTML.

The checkout page is a shell: the merchant's name and publishable key and where to send
the shopper, as data attributes, for its script (servers/roles/web/static/page.js, built from
clients/web/checkout/) to read; the script does the rest through the API. The challenge
pages are small, self-contained and have no script.

Everything shown is escaped; a return URL is followed only when it is http(s) (a
`javascript:` URL in a link would run on our origin). The response headers
(PAGE_HEADERS) keep the page out of caches, keep the attempt id out of Referer headers,
and allow nothing but inline styles and a form posting back to the same origin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from core.payments.challenges import Challenge, ChallengeAnswer, ChallengeState
from core.payments.checkout import CheckoutSession, is_web_url

# Seconds the result page shows before the browser goes back to the merchant.
REDIRECT_DELAY = 3

PAGE_HEADERS = (
    ("cache-control", "no-store"),
    # The attempt id in our URL is the capability: never send it to the merchant's site.
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("x-robots-tag", "noindex, nofollow"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'",
    ),
)
CONTENT_TYPE = "text/html; charset=utf-8"

# The checkout runs its own script and style sheet and talks only to this origin (the
# API through Envoy). It may be framed by any web page (checkout.js opens it in a modal
# on the merchant's site); the 3-D Secure challenge opens inside it, same origin.
CHECKOUT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors http: https:"
)
CHECKOUT_HEADERS = tuple(
    (name, CHECKOUT_CSP if name == "content-security-policy" else value)
    for name, value in PAGE_HEADERS
)
# An origin fit to write into a CSP source list (the profile's check already refused
# anything but https, or http to loopback, without credentials).
_ORIGIN = re.compile(
    r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^http://\[[0-9a-fA-F:]+\](:[0-9]{1,5})?$"
)


def checkout_headers(image_origin: str = "") -> tuple[tuple[str, str], ...]:
    """The checkout's headers; its CSP also lets images come from the logo's origin."""
    if not image_origin or not _ORIGIN.match(image_origin):
        return CHECKOUT_HEADERS
    csp = CHECKOUT_CSP.replace("img-src 'self' data:", f"img-src 'self' data: {image_origin}")
    return tuple(
        (name, csp if name == "content-security-policy" else value) for name, value in PAGE_HEADERS
    )


def origin_of(url: str) -> str:
    """scheme://host[:port] of an http(s) URL, "" for anything else (a data: URL)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


# The dashboard runs its own script and style sheet, talks only to this origin (the API
# through Envoy) and is never framed: a merchant's session must not be clickjacked.
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
DASHBOARD_HEADERS = (
    *(
        (name, DASHBOARD_CSP if name == "content-security-policy" else value)
        for name, value in PAGE_HEADERS
    ),
    ("x-frame-options", "DENY"),
)

# redirect_status appended to the return URL, as Stripe does.
_REDIRECT_STATUS = {
    ChallengeState.APPROVED: "succeeded",
    ChallengeState.FAILED: "failed",
    ChallengeState.PROCESSING: "processing",
    ChallengeState.CANCELED: "canceled",
}

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;
margin:0;padding:2rem 1rem;color:#1a1f36}
main{max-width:26rem;margin:0 auto;background:#fff;border-radius:12px;padding:2rem;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.3rem;margin:0 0 1rem}
.test{background:#fff4d6;color:#6b4e00;border-radius:6px;padding:.5rem .75rem;
font-size:.85rem;margin-bottom:1.25rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.4rem 1rem;margin:0 0 1.5rem}
dt{color:#697386}dd{margin:0;font-weight:600}
form{display:flex;gap:.75rem}
button{flex:1;font-size:1rem;padding:.75rem;border-radius:8px;border:0;cursor:pointer}
.complete{background:#0a7c4a;color:#fff}.fail{background:#e3e8ee;color:#1a1f36}
a{color:#2d5bd7}
"""


@dataclass(frozen=True)
class Page:
    title: str
    body: str
    redirect_to: str = ""
    # The checkout's shell: its own style sheet and script (relative to /checkout/)
    # instead of the inline style, which its CSP does not allow.
    scripted: bool = False
    # Where the merchant's logo comes from, allowed by the checkout's CSP.
    image_origin: str = ""

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        return checkout_headers(self.image_origin) if self.scripted else PAGE_HEADERS

    def html(self) -> bytes:
        refresh = ""
        if self.redirect_to:
            target = escape(self.redirect_to, quote=True)
            refresh = f'<meta http-equiv="refresh" content="{REDIRECT_DELAY};url={target}">'
        if self.scripted:
            head = (
                '<link rel="stylesheet" href="assets/page.css">'
                '<script src="assets/page.js" defer></script>'
            )
        else:
            head = f"<style>{_STYLE}</style>"
        return (
            "<!doctype html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"{refresh}<title>{escape(self.title)}</title>{head}</head>"
            f"<body><main>{self.body}</main></body></html>\n"
        ).encode()


def checkout_page(session: CheckoutSession | None) -> Page:
    """GET /checkout/{pi}?client_secret=...: the shell the checkout script fills in."""
    if session is None:
        body = (
            "<h1>This payment link is not valid</h1>"
            "<p>Check the link, or return to the merchant's site and start again.</p>"
        )
        return Page("Payment link not valid", body)
    merchant = session.merchant_name or "the merchant"
    if not session.publishable_key:
        body = (
            f"<h1>{escape(merchant)} cannot take payments here yet</h1>"
            "<p>The merchant has no publishable key for this checkout. "
            "Return to the merchant's site.</p>"
        )
        return Page("Checkout unavailable", body)
    data = {
        "key": session.publishable_key,
        "merchant": session.merchant_name,
        "livemode": "true" if session.livemode else "false",
        "success-url": session.success_url if is_web_url(session.success_url) else "",
        "cancel-url": session.cancel_url if is_web_url(session.cancel_url) else "",
        "return-url": session.return_url if is_web_url(session.return_url) else "",
        "cancellation-reason": session.cancellation_reason,
        "brand-color": session.branding_color,
        "logo": session.logo_url,
    }
    attributes = "".join(
        f' data-{name}="{escape(value, quote=True)}"' for name, value in data.items()
    )
    return Page(
        f"Pay {merchant}",
        f'<div id="checkout"{attributes} aria-busy="true"><p>Loading the checkout…</p></div>'
        "<noscript><p>This checkout needs JavaScript.</p></noscript>",
        scripted=True,
        image_origin=origin_of(session.logo_url),
    )


def dashboard_page() -> bytes:
    """GET /dashboard: the shell the dashboard's script fills in (the same for everyone:
    what it shows comes from the API with the user's session)."""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<title>paygate dashboard</title>"
        '<link rel="icon" href="data:,">'  # no /favicon.ico request
        # Relative to /dashboard: under any path prefix.
        '<link rel="stylesheet" href="dashboard/assets/app.css">'
        '<script src="dashboard/assets/app.js" defer></script></head>'
        '<body><div id="app" aria-busy="true"><p class="boot">Loading the dashboard…</p></div>'
        "<noscript><p>The dashboard needs JavaScript.</p></noscript></body></html>\n"
    ).encode()


def challenge_page(challenge: Challenge) -> Page:
    """GET /3ds/{attempt}: the challenge, or why there is none."""
    if challenge.state is ChallengeState.UNKNOWN:
        return _unknown()
    if challenge.state is not ChallengeState.PENDING:
        return _outcome(challenge, "This authentication is no longer pending.")
    amount = str(challenge.amount) if challenge.amount else ""
    last4 = f"•••• {challenge.card_last4}" if challenge.card_last4 else ""
    card = " ".join(x for x in (challenge.card_brand.upper(), last4) if x)
    rows = [
        ("Merchant", challenge.merchant_name),
        ("Amount", amount),
        ("Card", card),
        ("For", challenge.description),
    ]
    details = "".join(f"<dt>{name}</dt><dd>{escape(value)}</dd>" for name, value in rows if value)
    action = escape(quote(challenge.attempt_id, safe=""), quote=True)
    body = (
        "<h1>Confirm your payment</h1>"
        '<p class="test">Test mode: this page plays your bank\'s 3-D Secure check. '
        "Choose how it ends.</p>"
        f"<dl>{details}</dl>"
        # Relative to /3ds/: posts back to this page's own URL under any path prefix.
        f'<form method="post" action="{action}">'
        '<button class="complete" type="submit" name="outcome" value="complete">Complete</button>'
        '<button class="fail" type="submit" name="outcome" value="fail">Fail</button>'
        "</form>"
    )
    return Page("Confirm your payment", body)


def answer_page(answer: ChallengeAnswer) -> Page:
    """POST /3ds/{attempt}: how it ended, then back to the merchant."""
    challenge = answer.challenge
    if challenge.state is ChallengeState.UNKNOWN:
        return _unknown()
    if not answer.accepted:
        return _outcome(challenge, "This authentication is no longer pending.")
    return _outcome(challenge, "")


_HEADINGS = {
    ChallengeState.APPROVED: "Payment authenticated",
    ChallengeState.FAILED: "Payment failed",
    ChallengeState.PROCESSING: "Payment processing",
    ChallengeState.CANCELED: "Payment canceled",
    ChallengeState.PENDING: "Confirm your payment",
}
_MESSAGES = {
    ChallengeState.APPROVED: "Your bank confirmed the payment.",
    ChallengeState.FAILED: "The payment could not be completed.",
    ChallengeState.PROCESSING: "Your bank's answer is on its way.",
    ChallengeState.CANCELED: "The merchant canceled this payment.",
    ChallengeState.PENDING: "",
}


def _outcome(challenge: Challenge, note: str) -> Page:
    parts = [f"<h1>{_HEADINGS[challenge.state]}</h1>"]
    if note:
        parts.append(f"<p>{escape(note)}</p>")
    parts.append(f"<p>{escape(challenge.failure_message or _MESSAGES[challenge.state])}</p>")
    target = return_target(challenge)
    if target:
        link = escape(target, quote=True)
        name = escape(challenge.merchant_name or "the merchant")
        parts.append(f'<p><a href="{link}">Return to {name}</a></p>')
    else:
        parts.append("<p>You can close this window.</p>")
    return Page(_HEADINGS[challenge.state], "".join(parts), redirect_to=target)


def _unknown() -> Page:
    body = (
        "<h1>No such authentication</h1>"
        "<p>This link does not lead to a payment waiting for authentication. "
        "Return to the merchant's site and try again.</p>"
    )
    return Page("No such authentication", body)


def return_target(challenge: Challenge) -> str:
    """The intent's return_url with payment_intent and redirect_status added, or "" when
    there is none, it is not http(s), or the challenge is still pending."""
    status = _REDIRECT_STATUS.get(challenge.state)
    url = challenge.return_url.strip()
    if not url or status is None:
        return ""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [("payment_intent", challenge.payment_intent_id), ("redirect_status", status)]
    return urlunsplit(parts._replace(query=urlencode(query)))
