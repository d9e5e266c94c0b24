"""The 3-D Secure page and WatchPaymentIntent through the real gateway.

- The session gateway (two API processes, the worker, the web process, Envoy): the page
  is served by the web process through Envoy's `web` cluster; watches over REST (Server-
  Sent Events) and gRPC see changes made by another API process (LISTEN/NOTIFY).
- The whole 3-D Secure flow runs on both topologies: the session gateway (the page on the
  web process, the confirm on an API process: the challenge lives at the acquirer role,
  which both reach) and a gateway of its own with one API process and no web process
  (the API process serves the page).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import pytest
from paygate.v1 import payment_intents_pb2, payment_intents_pb2_grpc

from tests.e2e.conftest import running_gateway
from tests.e2e.gateway import Gateway

THREE_DS_CARD = {"number": "4000002760003184", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
CARD = {**THREE_DS_CARD, "number": "4242424242424242"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PI = payment_intents_pb2.PaymentIntent


@pytest.fixture(scope="module")
def single_process_gateway(gateway_database_url: str) -> Iterator[Gateway]:
    with running_gateway(gateway_database_url, api_processes=1, web_process=False) as running:
        yield running


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def tokenize(gateway: Gateway, card: dict[str, Any]) -> str:
    response = httpx.post(
        f"{gateway.rest_url}/v1/tokens",
        json={"card": card},
        headers=bearer(gateway.publishable_key),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["id"]
    return token


def create_intent(gateway: Gateway, **fields: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{gateway.rest_url}/v1/payment_intents",
        json={"amount": 4200, "currency": "eur", **fields},
        headers=bearer(gateway.secret_key),
    )
    assert response.status_code == 200, response.text
    intent: dict[str, Any] = response.json()
    return intent


def confirm(gateway: Gateway, intent: dict[str, Any], token: str) -> dict[str, Any]:
    """Confirmed from the browser: the publishable key and the client secret."""
    response = httpx.post(
        f"{gateway.rest_url}/v1/payment_intents/{intent['id']}/confirm",
        json={"payment_method": token, "client_secret": intent["client_secret"]},
        headers=bearer(gateway.publishable_key),
    )
    assert response.status_code == 200, response.text
    confirmed: dict[str, Any] = response.json()
    return confirmed


def get_intent(gateway: Gateway, intent_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{gateway.rest_url}/v1/payment_intents/{intent_id}", headers=bearer(gateway.secret_key)
    )
    assert response.status_code == 200, response.text
    intent: dict[str, Any] = response.json()
    return intent


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The data of each Server-Sent Event, as JSON."""
    data: list[str] = []
    for line in response.iter_lines():
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield json.loads("\n".join(data))
            data = []
    if data:
        yield json.loads("\n".join(data))


def watch_url(gateway: Gateway, intent: dict[str, Any]) -> str:
    return f"{gateway.rest_url}/v1/payment_intents/{intent['id']}/watch"


def grpc_watch(gateway: Gateway, intent_id: str, channel: grpc.Channel) -> Any:
    stub = payment_intents_pb2_grpc.PaymentIntentServiceStub(channel)
    return stub.WatchPaymentIntent(
        payment_intents_pb2.WatchPaymentIntentRequest(id=intent_id),
        metadata=(("authorization", f"Bearer {gateway.secret_key}"),),
        timeout=60,
    )


def upstream_requests(gateway: Gateway, cluster: str) -> int:
    """Requests Envoy sent to `cluster` so far (its admin /clusters counters)."""
    text = httpx.get(f"{gateway.admin_url}/clusters").text
    pattern = rf"^{cluster}::[^:]+:\d+::rq_total::(\d+)$"
    return sum(int(n) for n in re.findall(pattern, text, re.M))


# --- the session gateway: the web process, and watches across API processes -----------


def test_the_challenge_page_is_served_by_the_web_process(gateway: Gateway) -> None:
    intent = create_intent(gateway)
    confirmed = confirm(gateway, intent, tokenize(gateway, THREE_DS_CARD))
    assert confirmed["status"] == "REQUIRES_ACTION"
    url = confirmed["next_action"]["url"]
    assert confirmed["next_action"]["type"] == "REDIRECT_TO_URL"
    # The browser's view has no attempt ids: the merchant's has (docs/payments.md).
    attempt = get_intent(gateway, intent["id"])["latest_attempt"]
    assert url == f"{gateway.rest_url}/3ds/{attempt}"

    before = upstream_requests(gateway, "web")
    page = httpx.get(url)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "42.00 EUR" in page.text and "Test merchant" in page.text
    assert 'value="complete">Complete</button>' in page.text
    assert upstream_requests(gateway, "web") > before  # the web cluster answered


def test_pages_without_a_challenge_say_so_and_bad_forms_are_refused(gateway: Gateway) -> None:
    unknown = httpx.get(f"{gateway.rest_url}/3ds/pa_01nosuchattempt")
    assert unknown.status_code == 200
    assert "No such authentication" in unknown.text

    paid = create_intent(gateway)
    assert confirm(gateway, paid, tokenize(gateway, CARD))["status"] == "SUCCEEDED"
    paid = get_intent(gateway, paid["id"])  # the merchant's view names the attempt
    page = httpx.get(f"{gateway.rest_url}/3ds/{paid['latest_attempt']}")
    assert "no longer pending" in page.text and "<form" not in page.text
    # Posting to it changes nothing, whatever it says.
    posted = httpx.post(
        f"{gateway.rest_url}/3ds/{paid['latest_attempt']}", content="outcome=fail", headers=FORM
    )
    assert posted.status_code == 200 and "no longer pending" in posted.text
    assert get_intent(gateway, paid["id"])["status"] == "SUCCEEDED"

    bad = httpx.post(
        f"{gateway.rest_url}/3ds/{paid['latest_attempt']}", content="outcome=maybe", headers=FORM
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == 3  # INVALID_ARGUMENT, as JSON like every API error


def test_watch_over_rest_is_server_sent_events_to_the_final_message(gateway: Gateway) -> None:
    intent = create_intent(gateway)
    with httpx.stream(
        "GET",
        watch_url(gateway, intent),
        params={"client_secret": intent["client_secret"]},
        headers={**bearer(gateway.publishable_key), "Accept": "text/event-stream"},
        timeout=httpx.Timeout(30.0),
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        events = sse_events(response)
        first = next(events)
        assert first["payment_intent"]["status"] == "REQUIRES_PAYMENT_METHOD"
        assert (first["final"], first["reason"]) == (False, "END_REASON_UNSPECIFIED")
        # Confirmed through Envoy: possibly by the other API process.
        confirm(gateway, intent, tokenize(gateway, CARD))
        rest = list(events)  # the stream ends by itself after the final message
    statuses = [e["payment_intent"]["status"] for e in rest]
    assert statuses[-1] == "SUCCEEDED"
    assert set(statuses) <= {"PROCESSING", "SUCCEEDED"}
    assert rest[-1]["final"] is True and rest[-1]["reason"] == "TERMINAL_STATUS"
    assert not any(e["final"] for e in rest[:-1])
    # The browser watched: money figures are the merchant's to read.
    assert rest[-1]["payment_intent"]["amount_received"] == "0"
    assert get_intent(gateway, intent["id"])["amount_received"] == "4200"


def test_watch_over_grpc_through_envoy(gateway: Gateway) -> None:
    intent = create_intent(gateway)
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        stream = grpc_watch(gateway, intent["id"], channel)
        first = next(stream)
        assert first.payment_intent.status == PI.REQUIRES_PAYMENT_METHOD
        response = httpx.post(
            f"{gateway.rest_url}/v1/payment_intents/{intent['id']}/cancel",
            json={"cancellation_reason": "abandoned"},
            headers=bearer(gateway.secret_key),
        )
        assert response.status_code == 200, response.text
        messages = list(stream)
    assert messages[-1].final
    assert messages[-1].reason == payment_intents_pb2.WatchPaymentIntentResponse.TERMINAL_STATUS
    assert messages[-1].payment_intent.status == PI.CANCELED
    assert stream.code() is grpc.StatusCode.OK


def test_watching_another_merchants_intent_is_not_found(gateway: Gateway) -> None:
    response = httpx.get(
        f"{gateway.rest_url}/v1/payment_intents/pi_01nosuchintent/watch",
        headers=bearer(gateway.secret_key),
    )
    assert response.status_code == 404
    assert response.json()["code"] == 5


# --- the whole 3-D Secure flow, on both topologies ------------------------------------


@pytest.fixture(params=["session", "single_process"])
def any_gateway(request: pytest.FixtureRequest) -> Gateway:
    name = "gateway" if request.param == "session" else "single_process_gateway"
    running: Gateway = request.getfixturevalue(name)
    return running


def test_a_3ds_payment_from_token_to_succeeded(any_gateway: Gateway) -> None:
    gateway = any_gateway
    token = tokenize(gateway, THREE_DS_CARD)
    intent = create_intent(gateway, return_url="https://shop.example/thanks?order=9")
    with (
        httpx.stream(
            "GET",
            watch_url(gateway, intent),
            params={"client_secret": intent["client_secret"]},
            headers=bearer(gateway.publishable_key),
            timeout=httpx.Timeout(30.0),
        ) as sse,
        grpc.insecure_channel(gateway.grpc_target) as channel,
    ):
        events = sse_events(sse)
        assert next(events)["payment_intent"]["status"] == "REQUIRES_PAYMENT_METHOD"
        grpc_stream = grpc_watch(gateway, intent["id"], channel)
        assert next(grpc_stream).payment_intent.status == PI.REQUIRES_PAYMENT_METHOD

        confirmed = confirm(gateway, intent, token)
        assert confirmed["status"] == "REQUIRES_ACTION"
        url = confirmed["next_action"]["url"]
        # The browser's view has no attempt ids: the merchant's has (docs/payments.md).
        attempt = get_intent(gateway, intent["id"])["latest_attempt"]
        assert url == f"{gateway.rest_url}/3ds/{attempt}"

        page = httpx.get(url)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        action = re.search(r'<form method="post" action="([^"]+)">', page.text)
        assert action is not None
        done = httpx.post(
            httpx.URL(url).join(action.group(1)), content="outcome=complete", headers=FORM
        )
        assert done.status_code == 200, done.text
        assert "Payment authenticated" in done.text
        refresh = re.search(r'http-equiv="refresh" content="\d+;url=([^"]+)"', done.text)
        assert refresh is not None
        back = urlsplit(refresh.group(1).replace("&amp;", "&"))
        assert (back.netloc, back.path) == ("shop.example", "/thanks")
        assert parse_qs(back.query) == {
            "order": ["9"],
            "payment_intent": [intent["id"]],
            "redirect_status": ["succeeded"],
        }

        sse_rest = list(events)
        grpc_rest = list(grpc_stream)

    final = get_intent(gateway, intent["id"])
    assert final["status"] == "SUCCEEDED"
    assert (final["amount_received"], final["capture_method"]) == ("4200", "AUTOMATIC")
    statuses = [e["payment_intent"]["status"] for e in sse_rest]
    # PROCESSING may be folded into the next change; REQUIRES_ACTION lasts until the page
    # is answered, so every watcher sees it.
    assert "REQUIRES_ACTION" in statuses and statuses[-1] == "SUCCEEDED"
    assert set(statuses) <= {"PROCESSING", "REQUIRES_ACTION", "SUCCEEDED"}
    assert sse_rest[-1]["final"] is True and sse_rest[-1]["reason"] == "TERMINAL_STATUS"
    assert PI.REQUIRES_ACTION in [m.payment_intent.status for m in grpc_rest]
    assert grpc_rest[-1].final and grpc_rest[-1].payment_intent.status == PI.SUCCEEDED
