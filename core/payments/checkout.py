"""The hosted checkout: what its page needs before the shopper's browser takes over.

The merchant sends the shopper to the intent's checkout_url ({web_url}/checkout/pi_...
?client_secret=...), or opens it with checkout.js. The page is the same for every intent;
the web role fills in who is asking and the merchant's publishable key, with which the
page's script reads the intent, tokenizes the card (the vault) and confirms, through the
public API like any merchant's own checkout. The client_secret in the URL is the
capability: without the right one the page knows nothing of the intent, exactly as the
API answers a publishable key with a wrong client_secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from core.access.model import KeyType
from core.payments.model import PaymentIntent
from core.shared.ids import has_prefix
from core.shared.ports import Clock
from core.shared.text_rules import return_url_problem
from core.unit_of_work import UnitOfWorkFactory

# How many of the merchant's newest keys are searched for a usable publishable key.
KEYS_SEARCHED = 100


@dataclass(frozen=True)
class CheckoutSession:
    """What the page carries besides the intent, which its script reads itself."""

    intent_id: str
    merchant_name: str
    # The merchant's newest usable publishable key of the intent's mode; "" when there is
    # none (the page then says the merchant cannot take payments here).
    publishable_key: str
    livemode: bool
    success_url: str
    cancel_url: str
    return_url: str
    # Why a CANCELED intent was canceled (EXPIRED, ...): the page's message says which,
    # whatever the publishable-key view of the intent shows.
    cancellation_reason: str = ""
    # The merchant's branding (core/account/profile.py): checked when saved.
    branding_color: str = ""
    logo_url: str = ""


class HostedCheckout:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def open(self, intent_id: str, client_secret: str) -> CheckoutSession | None:
        """The session of an intent, or None when the id or the client_secret is wrong."""
        if not has_prefix(intent_id, "pi") or not client_secret:
            return None
        async with self._uow() as uow:
            intent = await uow.payment_intents.by_id(intent_id)
            if intent is None or not intent.secret_matches(client_secret):
                return None
            profile = await uow.business_profiles.get(intent.merchant_id)
            keys = await uow.api_keys.list(intent.merchant_id, limit=KEYS_SEARCHED)
        now = self._clock.now()
        key = next(
            (
                k.publishable_key
                for k in keys  # newest first
                if k.type is KeyType.PUBLISHABLE
                and k.livemode == intent.livemode
                and k.publishable_key
                and k.usable_at(now)
            ),
            "",
        )
        return CheckoutSession(
            intent_id=intent.id,
            merchant_name=profile.business_name if profile else "",
            publishable_key=key,
            livemode=intent.livemode,
            success_url=intent.success_url,
            cancel_url=intent.cancel_url,
            return_url=intent.return_url,
            cancellation_reason=intent.cancellation_reason,
            branding_color=profile.branding_color if profile else "",
            logo_url=profile.logo_url if profile else "",
        )


# What quote() and urlencode() leave as it is (RFC 3986's unreserved characters): ids and
# client secrets are made of these, so the URL of every answer needs no quoting pass.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def checkout_url(base_url: str, intent: PaymentIntent) -> str:
    """The hosted checkout of `intent` under `base_url` (the web role's public URL)."""
    intent_id, secret = intent.id, intent.client_secret
    if _UNRESERVED.fullmatch(intent_id) and _UNRESERVED.fullmatch(secret):
        return f"{base_url.rstrip('/')}/checkout/{intent_id}?client_secret={secret}"
    path = f"/checkout/{quote(intent_id, safe='')}"
    query = urlencode({"client_secret": secret})
    return f"{base_url.rstrip('/')}{path}?{query}"


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL with a host (return_url's rule): the only kind a page may
    send a browser to (a `javascript:` or `data:` URL would run on our origin)."""
    url = url.strip()
    return bool(url) and return_url_problem(url) is None
