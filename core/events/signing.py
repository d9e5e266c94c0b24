"""Webhook signatures: Standard Webhooks (the default) and Stripe's (per endpoint).

Standard Webhooks (https://www.standardwebhooks.com):

    webhook-id         the event id, the same on every retry
    webhook-timestamp  seconds since the epoch, when this attempt was signed
    webhook-signature  "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one per secret,
                       space-separated (two while a secret rotates)

A secret is `whsec_` + base64 of the key bytes, so any Standard Webhooks library (the
`standardwebhooks` package among them) verifies what paygate signs.

Stripe's (endpoints with SignatureScheme.STRIPE):

    Stripe-Signature   "t=<timestamp>,v1=<hex HMAC-SHA256 of timestamp.body>", one v1 per
                       secret (two while a secret rotates)

keyed with the whole secret string, as Stripe's SDKs (Webhook.construct_event) verify it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from core.shared.ports import IdGenerator
from core.shared.secret import Secret

SECRET_PREFIX = "whsec_"
USER_AGENT = "paygate-webhooks/1.0 (+https://paygate.dev/docs/webhooks)"


def new_secret(ids: IdGenerator) -> Secret:
    key = ids.secret(24).encode()  # 32 url-safe characters: 192 bits of randomness
    return Secret(SECRET_PREFIX + base64.b64encode(key).decode())


def _key(secret: Secret) -> bytes:
    value = secret.reveal()
    if not value.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(value[len(SECRET_PREFIX) :])


def signature(secret: Secret, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: Sequence[Secret], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one attempt; the body goes as it was signed, byte for byte."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def stripe_signature(secrets: Sequence[Secret], timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    v1 = [
        "v1=" + hmac.new(s.reveal().encode(), signed, hashlib.sha256).hexdigest() for s in secrets
    ]
    return ",".join([f"t={timestamp}", *v1])


def stripe_headers(
    secrets: Sequence[Secret], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Stripe's headers for one attempt (msg_id is in the body, Stripe sends no header)."""
    return {
        "stripe-signature": stripe_signature(secrets, timestamp, body),
        "content-type": "application/json; charset=utf-8",
        "user-agent": USER_AGENT,
    }


def loggable(sent: dict[str, str]) -> dict[str, str]:
    """The headers for the delivery log: the signatures are left out (they prove nothing
    to a reader, and the log is no place for anything derived from a secret)."""
    shown = dict(sent)
    if "webhook-signature" in shown:
        count = len(shown["webhook-signature"].split())
        shown["webhook-signature"] = f"({count} signature{'s' if count > 1 else ''})"
    if "stripe-signature" in shown:
        count = shown["stripe-signature"].count("v1=")
        shown["stripe-signature"] = f"({count} signature{'s' if count > 1 else ''})"
    return shown
