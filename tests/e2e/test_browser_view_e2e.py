"""What a browser (publishable key + client secret) reads of a payment intent, over REST
through Envoy: only the checkout's fields (docs/payments.md, "The browser's view"), on
every call that answers it an intent: get, confirm and the watch stream. Every other field
of the PaymentIntent message, read from its descriptor (a field added later included),
comes back at its default value.
"""

from __future__ import annotations

from typing import Any

import httpx
from paygate.v1 import payment_intents_pb2

from tests.e2e.gateway import Gateway
from tests.e2e.test_web_and_watch_e2e import (
    bearer,
    confirm,
    create_intent,
    sse_events,
    tokenize,
    watch_url,
)

BROWSER_FIELDS = {
    "id", "amount", "currency", "status", "capture_method", "client_secret", "livemode",
    "created", "payment_method_types", "return_url", "last_payment_error", "next_action",
    "canceled_at", "cancellation_reason",
}  # fmt: skip
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
PRIVATE = {
    "description": "order 1234 for a VIP",
    "metadata": {"crm_id": "c-77", "margin": "41%"},
    "receipt_email": "buyer@example.com",
    "return_url": "https://shop.example/done",
}


def _hidden(intent: dict[str, Any]) -> dict[str, Any]:
    """The fields outside the browser's view that carry a value."""
    defaults: list[Any] = ["0", 0, "", [], {}, None, False]
    fields = payment_intents_pb2.PaymentIntent.DESCRIPTOR.fields
    return {
        f.name: intent.get(f.name)
        for f in fields
        if f.name not in BROWSER_FIELDS
        and intent.get(f.name) not in defaults
        and not (f.enum_type and str(intent.get(f.name)).endswith("UNSPECIFIED"))
    }


def test_the_browser_sees_only_the_checkout_fields_everywhere(gateway: Gateway) -> None:
    intent = create_intent(gateway, **PRIVATE)
    assert _hidden(intent), "the secret key sees everything"  # the test can see a leak
    secret = {"client_secret": intent["client_secret"]}
    with httpx.Client(base_url=gateway.rest_url, timeout=30) as http:
        pk = bearer(gateway.publishable_key)
        read = http.get(f"/v1/payment_intents/{intent['id']}", params=secret, headers=pk)
        assert read.status_code == 200, read.text
        assert _hidden(read.json()) == {}
        assert read.json()["return_url"] == PRIVATE["return_url"]

        confirmed = confirm(gateway, intent, tokenize(gateway, CARD))
        assert confirmed["status"] == "SUCCEEDED"
        assert _hidden(confirmed) == {}

        with http.stream("GET", watch_url(gateway, intent), params=secret, headers=pk) as watch:
            updates = [event["payment_intent"] for event in sse_events(watch)]
    assert updates and all(_hidden(update) == {} for update in updates)
    # The merchant still sees its own records.
    with httpx.Client(base_url=gateway.rest_url, headers=bearer(gateway.secret_key)) as http:
        full = http.get(f"/v1/payment_intents/{intent['id']}").json()
    assert full["metadata"] == PRIVATE["metadata"] and full["payment_method"]
    # ... and how it was paid, which the browser's view leaves out.
    assert full["payment_method_details"] == {
        "type": "card",
        "card": {"brand": "visa", "last4": "4242"},
    }, full


def test_the_browser_cannot_charge_a_card_the_merchant_keeps_on_file(gateway: Gateway) -> None:
    """A client secret lets a browser pay one intent with a card it tokenized itself, not
    with any saved payment method (pm_...) of the merchant; the merchant's secret key can."""
    sk = bearer(gateway.secret_key)
    with httpx.Client(base_url=gateway.rest_url, timeout=30) as http:
        saved = http.post(
            "/v1/payment_methods",
            json={"token": tokenize(gateway, CARD), "customer": "cus_regular"},
            headers=sk,
        )
        assert saved.status_code == 200, saved.text
        pm = saved.json()["id"]
        intent = create_intent(gateway)
        from_browser = http.post(
            f"/v1/payment_intents/{intent['id']}/confirm",
            json={"payment_method": pm, "client_secret": intent["client_secret"]},
            headers=bearer(gateway.publishable_key),
        )
        assert from_browser.status_code == 403, from_browser.text
        assert from_browser.json()["details"][0]["reason"] == "PAYMENT_METHOD_NOT_ALLOWED"
        untouched = http.get(f"/v1/payment_intents/{intent['id']}", headers=sk).json()
        assert untouched["status"] == "REQUIRES_PAYMENT_METHOD" and untouched["attempts"] == 0

        by_merchant = http.post(
            f"/v1/payment_intents/{intent['id']}/confirm", json={"payment_method": pm}, headers=sk
        )
        assert by_merchant.status_code == 200, by_merchant.text
        assert by_merchant.json()["status"] == "SUCCEEDED"
