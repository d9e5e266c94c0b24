"""paygate's objects (as the API prints them) in Stripe's shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from core.events.model import Event, RequestRef
from servers.stripe import render

CREATED = "2026-12-06T07:00:00Z"
INTENT = {
    "object": "payment_intent",
    "id": "pi_1",
    "amount": "2000",
    "currency": "USD",
    "status": "REQUIRES_PAYMENT_METHOD",
    "capture_method": "MANUAL",
    "amount_capturable": "0",
    "amount_received": "0",
    "amount_refunded": "0",
    "client_secret": "pi_1_secret_x",
    "payment_method": "",
    "last_payment_error": {
        "code": "CARD_DECLINED",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    },
    "metadata": {"order": "6735"},
    "created": CREATED,
    "cancellation_reason": "",
    "description": "",
    "payment_method_types": ["card"],
    "return_url": "",
}


def test_a_payment_intent_in_stripes_shape() -> None:
    pi = render.payment_intent(INTENT)
    assert pi["object"] == "payment_intent"
    assert (pi["amount"], pi["currency"], pi["status"]) == (2000, "usd", "requires_payment_method")
    assert pi["capture_method"] == "manual"
    assert pi["created"] == int(datetime(2026, 12, 6, 7, tzinfo=UTC).timestamp())
    assert pi["last_payment_error"] == {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    }
    assert pi["payment_method"] is None and pi["description"] is None
    assert pi["canceled_at"] is None and pi["next_action"] is None
    assert pi["metadata"] == {"order": "6735"}


def test_3ds_is_a_redirect_to_url() -> None:
    waiting = {
        **INTENT,
        "status": "REQUIRES_ACTION",
        "last_payment_error": {"code": "", "decline_code": "", "message": ""},
        "next_action": {"type": "REDIRECT_TO_URL", "url": "http://127.0.0.1:8080/3ds/pa_1"},
        "return_url": "http://127.0.0.1:4242/done",
    }
    pi = render.payment_intent(waiting)
    assert pi["last_payment_error"] is None
    assert pi["next_action"] == {
        "type": "redirect_to_url",
        "redirect_to_url": {
            "url": "http://127.0.0.1:8080/3ds/pa_1",
            "return_url": "http://127.0.0.1:4242/done",
        },
    }


def test_an_expired_card_keeps_stripes_own_code() -> None:
    expired = {
        **INTENT,
        "last_payment_error": {"code": "CARD_DECLINED", "decline_code": "expired_card"},
    }
    assert render.payment_intent(expired)["last_payment_error"]["code"] == "expired_card"


def test_a_webhook_body_is_a_stripe_event_with_the_object_in_stripes_shape() -> None:
    event = Event(
        id="evt_1",
        merchant_id="acct_1",
        type="payment_intent.payment_failed",
        created=datetime(2026, 12, 6, 7, tzinfo=UTC),
        livemode=False,
        data=INTENT,
        request=RequestRef("req_1", "key-1"),
    )
    body = json.loads(render.webhook_body(event))
    assert body["object"] == "event"
    assert body["type"] == "payment_intent.payment_failed"
    assert body["created"] == int(event.created.timestamp())
    assert body["data"]["object"] == render.payment_intent(INTENT)
    assert body["request"] == {"id": "req_1", "idempotency_key": "key-1"}


def test_objects_without_a_stripe_counterpart_keep_paygates_shape() -> None:
    settlement = {"object": "settlement", "id": "stl_1", "gross": "100"}
    assert render.event_object(settlement) == settlement


def test_a_refund_a_balance_and_a_transaction() -> None:
    refund = render.refund(
        {
            "id": "re_1",
            "payment_intent": "pi_1",
            "amount": "1500",
            "currency": "EUR",
            "status": "SUCCEEDED",
            "reason": "requested_by_customer",
            "created": CREATED,
        }
    )
    assert (refund["object"], refund["amount"], refund["currency"], refund["status"]) == (
        "refund",
        1500,
        "eur",
        "succeeded",
    )
    balance = render.balance({"available": [{"amount": "10", "currency": "USD"}], "pending": []})
    assert balance == {
        "object": "balance",
        "available": [{"amount": 10, "currency": "usd"}],
        "pending": [],
        "livemode": False,
    }
    txn = render.balance_transaction(
        {
            "id": "txn_1",
            "type": "CHARGE",
            "amount": "100",
            "fee": "3",
            "net": "97",
            "currency": "USD",
            "created": CREATED,
            "available_on": CREATED,
        }
    )
    assert (txn["type"], txn["fee"], txn["net"]) == ("charge", 3, 97)
