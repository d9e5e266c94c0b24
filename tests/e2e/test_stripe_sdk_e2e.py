"""The official Stripe SDKs, unchanged but for their base address, against the real
gateway's /stripe surface (Envoy -> the stripe role -> the API processes' gRPC).

The Python `stripe` package (pinned in pyproject.toml) drives every case here; the npm
`stripe` package (pinned in package.json) runs the same payment loop from
stripe_sdk/node_sdk.mjs. Both are pointed at 127.0.0.1 only, with retries and telemetry
off. The merchant's payments_create limit is raised (`paygate limits set`) because the
pagination case creates 250 intents at SDK speed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import stripe

from servers.cli.limits import set_limits
from tests.databases import fresh_database
from tests.e2e.conftest import running_gateway
from tests.e2e.gateway import Gateway

REPO = Path(__file__).resolve().parents[2]
NODE_SCRIPT = Path(__file__).parent / "stripe_sdk" / "node_sdk.mjs"
INTENTS_TO_WALK = 250


@pytest.fixture(scope="module")
async def own_database(postgres_admin_url: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_admin_url, "paygate_stripe") as url:
        yield url


@pytest.fixture(scope="module")
async def stripe_gateway(own_database: str) -> AsyncIterator[Gateway]:
    with running_gateway(
        own_database, api_processes=2, webhook_allowed_networks="127.0.0.1/32"
    ) as running:
        said: list[Any] = []
        code = await set_limits(
            own_database,
            [running.merchant_id],
            "payments_create",
            ["1000/second"],
            lambda *a, **k: said.append((a, k)),
        )
        assert code == 0, said
        yield running


@pytest.fixture(scope="module")
def base_url(stripe_gateway: Gateway) -> str:
    return f"{stripe_gateway.rest_url}/stripe"


@pytest.fixture(scope="module")
def client(stripe_gateway: Gateway, base_url: str) -> stripe.StripeClient:
    stripe.enable_telemetry = False
    every_api = {"api": base_url, "files": base_url, "connect": base_url, "meter_events": base_url}
    return stripe.StripeClient(
        stripe_gateway.secret_key,
        base_addresses=every_api,  # type: ignore[arg-type]
        max_network_retries=0,
    )


def test_a_visa_payment_with_confirm_true_succeeds(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "confirm": True,
            "payment_method": "pm_card_visa",
            "metadata": {"order": "6735"},
            "payment_method_types": ["card"],
        }
    )
    assert intent.object == "payment_intent"
    assert (intent.status, intent.amount, intent.amount_received) == ("succeeded", 2000, 2000)
    assert intent.currency == "usd"
    assert intent.metadata["order"] == "6735"
    assert isinstance(intent.created, int)
    assert intent.payment_method and intent.payment_method.startswith("tok_")
    fetched = client.v1.payment_intents.retrieve(intent.id)
    assert fetched.status == "succeeded"
    updated = client.v1.payment_intents.update(
        intent.id, params={"description": "A pot of tea", "metadata": {"shipped": "yes"}}
    )
    assert updated.description == "A pot of tea"
    assert updated.metadata.to_dict() == {"order": "6735", "shipped": "yes"}
    with pytest.raises(stripe.InvalidRequestError) as amount:
        client.v1.payment_intents.update(intent.id, params={"amount": 1})
    assert amount.value.param == "amount"


def test_manual_capture_then_a_partial_refund(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        params={
            "amount": 5000,
            "currency": "eur",
            "capture_method": "manual",
            "confirm": True,
            "payment_method": "pm_card_mastercard",
        }
    )
    assert (intent.status, intent.amount_capturable) == ("requires_capture", 5000)
    captured = client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 4000})
    assert (captured.status, captured.amount_received) == ("succeeded", 4000)
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1500})
    assert (refund.object, refund.amount, refund.currency) == ("refund", 1500, "eur")
    assert refund.status == "succeeded"
    assert client.v1.refunds.retrieve(refund.id).payment_intent == intent.id
    listed = client.v1.refunds.list(params={"payment_intent": intent.id})
    assert [r.id for r in listed.data] == [refund.id]
    # The rest of the capture is refundable, no more.
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 2501})
    assert too_much.value.http_status == 400


@pytest.mark.parametrize(
    ("payment_method", "decline_code"),
    [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("tok_chargeDeclined", "generic_decline"),
    ],
)
def test_a_declined_card_raises_card_error_with_its_decline_code(
    client: stripe.StripeClient, payment_method: str, decline_code: str
) -> None:
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(
            params={
                "amount": 2000,
                "currency": "usd",
                "confirm": True,
                "payment_method": payment_method,
            }
        )
    error = raised.value
    assert error.http_status == 402
    assert error.code == "card_declined"
    assert error.error is not None
    assert error.error.decline_code == decline_code
    intent = error.error.payment_intent
    assert intent is not None
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error is not None
    assert intent.last_payment_error.decline_code == decline_code


def test_a_3ds_card_requires_action_with_a_redirect_url(
    client: stripe.StripeClient, stripe_gateway: Gateway
) -> None:
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "confirm": True,
            "payment_method": "pm_card_threeDSecureRequired",
            "return_url": "http://127.0.0.1:4242/done",
        }
    )
    assert intent.status == "requires_action"
    assert intent.next_action is not None
    assert intent.next_action.type == "redirect_to_url"
    redirect = intent.next_action.redirect_to_url
    assert redirect is not None
    assert redirect.url is not None
    assert redirect.url.startswith(stripe_gateway.rest_url + "/3ds/")
    assert redirect.return_url == "http://127.0.0.1:4242/done"


def test_a_replay_with_the_same_idempotency_key_is_the_same_object(
    client: stripe.StripeClient,
) -> None:
    key = str(uuid.uuid4())
    params: Any = {"amount": 1234, "currency": "usd", "confirm": True, "payment_method": "tok_visa"}
    first = client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
    again = client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
    assert again.id == first.id
    assert again.status == first.status == "succeeded"
    assert again.last_response is not None
    assert again.last_response.request_id
    other: Any = {**params, "amount": 1235}
    with pytest.raises(stripe.IdempotencyError) as reused:
        client.v1.payment_intents.create(params=other, options={"idempotency_key": key})
    assert reused.value.http_status == 400


def test_an_unsupported_parameter_is_a_400_naming_it(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(
            params={"amount": 100, "currency": "usd", "application_fee_amount": 5}  # type: ignore[typeddict-unknown-key]
        )
    assert raised.value.http_status == 400
    assert raised.value.param == "application_fee_amount"
    assert raised.value.code == "parameter_unknown"
    with pytest.raises(stripe.InvalidRequestError) as nested:
        client.v1.payment_intents.create(
            params={
                "amount": 100,
                "currency": "usd",
                "payment_method_options": {"card": {"request_three_d_secure": "any"}},
            }
        )
    assert nested.value.param == "payment_method_options"
    with pytest.raises(stripe.InvalidRequestError) as expand:
        client.v1.payment_intents.retrieve("pi_x", params={"expand": ["customer"]})
    assert expand.value.param == "expand"


def test_errors_raise_the_sdks_classes(stripe_gateway: Gateway, base_url: str) -> None:
    wrong = stripe.StripeClient(
        "sk_test_" + "x" * 32, base_addresses={"api": base_url}, max_network_retries=0
    )
    with pytest.raises(stripe.AuthenticationError) as unauthenticated:
        wrong.v1.balance.retrieve()
    assert unauthenticated.value.http_status == 401
    right = stripe.StripeClient(
        stripe_gateway.secret_key, base_addresses={"api": base_url}, max_network_retries=0
    )
    with pytest.raises(stripe.InvalidRequestError) as missing:
        right.v1.payment_intents.retrieve("pi_01nosuchintent000000000000")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as charges:
        right.v1.charges.list()
    assert charges.value.http_status == 404


def test_auto_pagination_walks_250_intents(client: stripe.StripeClient) -> None:
    created = {
        client.v1.payment_intents.create(params={"amount": 100 + i, "currency": "usd"}).id
        for i in range(INTENTS_TO_WALK)
    }
    walked = [
        intent.id
        for intent in client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
    ]
    assert len(walked) == len(set(walked))  # no page repeats an intent
    assert created <= set(walked)
    assert len(walked) >= INTENTS_TO_WALK


def test_balance_and_balance_transactions(client: stripe.StripeClient) -> None:
    client.v1.payment_intents.create(
        params={"amount": 900, "currency": "usd", "confirm": True, "payment_method": "tok_visa"}
    )
    balance = client.v1.balance.retrieve()
    assert balance.object == "balance"
    amounts = {entry.currency: entry.amount for entry in [*balance.available, *balance.pending]}
    assert amounts.get("usd", 0) > 0
    transactions = client.v1.balance_transactions.list(params={"limit": 5})
    assert transactions.data
    first = transactions.data[0]
    assert first.object == "balance_transaction"
    assert isinstance(first.amount, int)


def test_tokens_and_payment_methods(client: stripe.StripeClient) -> None:
    token = client.v1.tokens.create(
        params={"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040}}  # type: ignore[typeddict-item]
    )
    assert token.object == "token"
    assert token.card is not None
    assert token.card.last4 == "4242"
    method = client.v1.payment_methods.create(params={"type": "card", "card": {"token": token.id}})
    assert method.object == "payment_method"
    assert method.id.startswith("pm_")
    assert client.v1.payment_methods.retrieve(method.id).card.last4 == "4242"  # type: ignore[union-attr]
    intent = client.v1.payment_intents.create(params={"amount": 300, "currency": "gbp"})
    paid = client.v1.payment_intents.confirm(intent.id, params={"payment_method": method.id})
    assert paid.status == "succeeded"


class Receiver:
    """A webhook endpoint on 127.0.0.1 that keeps what it gets."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.received.append((body, self.headers.get("stripe-signature", "")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def test_a_webhook_arrives_and_construct_event_accepts_it(
    client: stripe.StripeClient, receiver: Receiver
) -> None:
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["payment_intent.succeeded"]}
    )
    assert endpoint.secret and endpoint.secret.startswith("whsec_")
    intent = client.v1.payment_intents.create(
        params={
            "amount": 4200,
            "currency": "usd",
            "confirm": True,
            "payment_method": "pm_card_visa",
        }
    )
    events: list[stripe.Event] = []
    for _ in range(600):  # a ceiling, not a timing assertion
        for body, signature in receiver.received:
            event = stripe.Webhook.construct_event(body, signature, endpoint.secret)
            if event.data.object["id"] == intent.id:
                events.append(event)
        if events:
            break
        time.sleep(0.05)
    assert events, f"no webhook for {intent.id}; received {len(receiver.received)}"
    event = events[0]
    assert event.type == "payment_intent.succeeded"
    assert event.data.object["object"] == "payment_intent"
    assert event.data.object["amount"] == 4200
    assert event.data.object["status"] == "succeeded"
    # A body changed in transit fails verification, as it must.
    body, signature = receiver.received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body + b" ", signature, endpoint.secret)
    # The same event through the Events API, in the same shape.
    fetched = client.v1.events.retrieve(event.id)
    assert fetched.type == event.type
    assert fetched.data.object["id"] == intent.id
    client.v1.webhook_endpoints.delete(endpoint.id)


@pytest.mark.skipif(
    shutil.which("node") is None or not (REPO / "node_modules" / "stripe").exists(),
    reason="node and `npm ci` (node_modules/stripe) are needed for the npm SDK",
)
def test_the_npm_sdk_runs_the_same_loop(stripe_gateway: Gateway, base_url: str) -> None:
    env = {
        **os.environ,
        "PAYGATE_STRIPE_URL": base_url,
        "PAYGATE_STRIPE_KEY": stripe_gateway.secret_key,
    }
    done = subprocess.run(
        ["node", str(NODE_SCRIPT)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["visa"] == {"status": "succeeded", "amount": 2000, "order": "6735"}
    assert seen["manual"] == {
        "before": "requires_capture",
        "after": "succeeded",
        "refund": "succeeded",
        "refunded": 1500,
    }
    assert seen["declined"] == {
        "raised": True,
        "code": "card_declined",
        "decline_code": "generic_decline",
        "status": 402,
    }
    assert seen["three_ds"]["status"] == "requires_action"
    assert seen["three_ds"]["next_action"]["redirect_to_url"]["url"].startswith(
        stripe_gateway.rest_url + "/3ds/"
    )
    assert seen["replay"] == {"same": True}
    assert seen["unknown"] == {"raised": True, "param": "on_behalf_of", "status": 400}
    assert seen["walked"] >= 5
