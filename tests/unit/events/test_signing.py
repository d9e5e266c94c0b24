"""Deliveries verify with the `standardwebhooks` package: a client written elsewhere."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from core.events.model import WebhookEndpoint
from core.events.signing import SECRET_PREFIX, headers, loggable, new_secret
from core.shared.secret import Secret
from tests.fakes import SequentialIds

BODY = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded"}).encode()


def secret() -> Secret:
    return new_secret(_ids)


_ids = SequentialIds()


def signed(*secrets: Secret, at: float | None = None, body: bytes = BODY) -> dict[str, str]:
    return headers(list(secrets), "evt_1", int(at if at is not None else time.time()), body)


def test_a_secret_is_whsec_and_base64() -> None:
    value = secret().reveal()
    assert value.startswith(SECRET_PREFIX)
    assert secret().reveal() != value


def test_a_delivery_verifies_with_its_secret() -> None:
    key = secret()
    payload = Webhook(key.reveal()).verify(BODY, signed(key))
    assert payload["id"] == "evt_1"


def test_a_forged_body_is_refused() -> None:
    key = secret()
    sent = signed(key)
    with pytest.raises(WebhookVerificationError):
        Webhook(key.reveal()).verify(BODY.replace(b"succeeded", b"canceled"), sent)


def test_a_forged_signature_is_refused() -> None:
    key = secret()
    sent = signed(key)
    sent["webhook-signature"] = "v1," + "A" * 44
    with pytest.raises(WebhookVerificationError):
        Webhook(key.reveal()).verify(BODY, sent)


def test_a_stale_delivery_is_refused() -> None:
    key = secret()
    with pytest.raises(WebhookVerificationError):
        Webhook(key.reveal()).verify(BODY, signed(key, at=time.time() - 6 * 60))


def test_another_secret_is_refused() -> None:
    with pytest.raises(WebhookVerificationError):
        Webhook(secret().reveal()).verify(BODY, signed(secret()))


def test_during_a_rotation_both_secrets_verify_and_after_it_only_the_new_one() -> None:
    now = datetime.now(UTC)
    old, new = secret(), secret()
    endpoint = WebhookEndpoint(
        id="we_1",
        merchant_id="acct_1",
        url="https://example.com/hooks",
        enabled_events=("*",),
        livemode=False,
        secret=new,
        created=now,
        previous_secret=old,
        previous_secret_expires_at=now + timedelta(hours=1),
    )
    during = signed(*endpoint.signing_secrets(now))
    assert len(during["webhook-signature"].split()) == 2
    Webhook(old.reveal()).verify(BODY, during)
    Webhook(new.reveal()).verify(BODY, during)

    after = signed(*endpoint.signing_secrets(now + timedelta(hours=2)))
    Webhook(new.reveal()).verify(BODY, after)
    with pytest.raises(WebhookVerificationError):
        Webhook(old.reveal()).verify(BODY, after)


def test_the_log_shows_no_signature() -> None:
    key = secret()
    sent = signed(key, secret())
    shown = loggable(sent)
    assert shown["webhook-signature"] == "(2 signatures)"
    assert sent["webhook-signature"] not in json.dumps(shown)
    assert shown["webhook-id"] == "evt_1" and "paygate" in shown["user-agent"]
