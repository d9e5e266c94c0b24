"""The risk engine through the real gateway: card velocity blocks the 6th payment of a
card within a minute (RISK_BLOCKED), also when two API processes share the work; a risky
payment goes through 3-D Secure; the intent and its events show the score and reasons;
a merchant's own settings are permission-gated and audited.

Each test pays with a card number of its own (random, Luhn-valid, not one of API.md's
published test cards, which test mode never counts), so tests sharing the session's
merchant never count each other's payments.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from paygate.v1 import (
    payment_intents_pb2,
    payment_intents_pb2_grpc,
    payment_methods_pb2,
    payment_methods_pb2_grpc,
    tokens_pb2,
    tokens_pb2_grpc,
)
from sqlalchemy import text

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.use_cases import ApiKeys
from sandbox.acquirer.card_network_simulator import luhn_valid
from tests.e2e.api_processes import api_processes as two_api_processes
from tests.e2e.api_processes import wait_until_serving
from tests.e2e.gateway import Gateway

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
LARGE_USD = 1_000_001  # over the default rules' large_amount: the review band


def fresh_card() -> str:
    """A Luhn-valid visa number no other test uses."""
    body = "4" + "".join(str(secrets.randbelow(10)) for _ in range(14))
    return next(body + check for check in "0123456789" if luhn_valid(body + check))


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


@pytest.fixture
async def rest(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {gateway.secret_key}"}
    async with httpx.AsyncClient(base_url=gateway.rest_url, headers=headers, timeout=30) as http:
        yield http


async def tokenize(rest: httpx.AsyncClient, gateway: Gateway, number: str) -> str:
    response = await rest.post(
        "/v1/tokens",
        json={"card": {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"}},
        headers={"Authorization": f"Bearer {gateway.publishable_key}", **key()},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["id"]
    return token


async def pay(
    rest: httpx.AsyncClient, gateway: Gateway, number: str, amount: int = 2000, **body: Any
) -> tuple[httpx.Response, str]:
    """Creates an intent and confirms it with a new token of `number`: (answer, intent id)."""
    created = await rest.post(
        "/v1/payment_intents", json={"amount": amount, "currency": "usd"}, headers=key()
    )
    assert created.status_code == 200, created.text
    intent_id = created.json()["id"]
    token = await tokenize(rest, gateway, number)
    answer = await rest.post(
        f"/v1/payment_intents/{intent_id}/confirm",
        json={"payment_method": token, **body},
        headers=key(),
    )
    return answer, intent_id


def reason_of(response: httpx.Response) -> str:
    infos = [d for d in response.json()["details"] if d["@type"].endswith("ErrorInfo")]
    reason: str = infos[0]["reason"]
    return reason


async def test_the_sixth_payment_with_one_card_in_a_minute_is_risk_blocked(
    rest: httpx.AsyncClient, gateway: Gateway
) -> None:
    number = fresh_card()
    answers = [await pay(rest, gateway, number) for _ in range(6)]
    for response, _ in answers[:5]:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "SUCCEEDED"
    blocked, intent_id = answers[5]
    assert blocked.status_code == 400, blocked.text  # FAILED_PRECONDITION
    assert reason_of(blocked) == "RISK_BLOCKED"

    intent = (await rest.get(f"/v1/payment_intents/{intent_id}")).json()
    assert intent["status"] == "REQUIRES_PAYMENT_METHOD"
    assert intent["last_payment_error"]["code"] == "RISK_BLOCKED"
    risk = intent["risk"]
    assert risk["decision"] == "BLOCK" and risk["score"] == 100
    velocity = [r for r in risk["reasons"] if r["rule"] == "card_velocity"]
    assert velocity == [
        {
            "rule": "card_velocity",
            "kind": "velocity",
            "score": 100,
            "detail": "6 payments by card in 1m (max 5)",
        }
    ]
    assert number not in blocked.text and number not in str(intent)


async def test_published_test_cards_are_not_counted_in_test_mode(
    rest: httpx.AsyncClient, gateway: Gateway
) -> None:
    for _ in range(7):
        response, _ = await pay(rest, gateway, "5555555555554444")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "SUCCEEDED"


async def test_a_risky_payment_goes_through_3d_secure_and_shows_its_score(
    rest: httpx.AsyncClient, gateway: Gateway
) -> None:
    confirmed, intent_id = await pay(rest, gateway, fresh_card(), LARGE_USD)
    assert confirmed.status_code == 200, confirmed.text
    intent = confirmed.json()
    assert intent["status"] == "REQUIRES_ACTION"
    assert intent["next_action"]["type"] == "REDIRECT_TO_URL"
    assert intent["risk"]["decision"] == "REVIEW"
    assert intent["risk"]["score"] == 60
    assert {r["rule"]: r["score"] for r in intent["risk"]["reasons"]} == {
        "large_amount": 50,
        "first_time_card": 10,
    }
    assert intent["risk"]["rules_version"] == 1

    # The shopper passes the challenge: the payment goes on to the acquirer's approval.
    url = intent["next_action"]["url"]
    async with httpx.AsyncClient(timeout=30) as shopper:
        page = await shopper.get(url)
        action = re.search(r'<form method="post" action="([^"]+)">', page.text)
        assert action is not None, page.text
        done = await shopper.post(
            httpx.URL(url).join(action.group(1)), content="outcome=complete", headers=FORM
        )
    assert done.status_code == 200, done.text
    final = (await rest.get(f"/v1/payment_intents/{intent_id}")).json()
    assert final["status"] == "SUCCEEDED"
    assert final["risk"] == intent["risk"]

    # The events carry the intent as the API renders it: its risk too.
    events = await rest.get("/v1/events", params={"type": "payment_intent.succeeded", "limit": 20})
    assert events.status_code == 200, events.text
    [event] = [e for e in events.json()["data"] if e["data"]["object"]["id"] == intent_id]
    assert event["data"]["object"]["risk"]["score"] == 60


async def test_a_browsers_device_fingerprint_is_taken_and_the_risk_stays_private(
    gateway: Gateway, rest: httpx.AsyncClient
) -> None:
    created = await rest.post(
        "/v1/payment_intents", json={"amount": 1500, "currency": "usd"}, headers=key()
    )
    intent = created.json()
    token = await tokenize(rest, gateway, fresh_card())
    browser = {"Authorization": f"Bearer {gateway.publishable_key}"}
    too_long = await rest.post(
        f"/v1/payment_intents/{intent['id']}/confirm",
        json={
            "payment_method": token,
            "client_secret": intent["client_secret"],
            "device_fingerprint": "d" * 129,
        },
        headers={**browser, **key()},
    )
    assert too_long.status_code == 400, too_long.text
    assert "device_fingerprint" in too_long.text
    paid = await rest.post(
        f"/v1/payment_intents/{intent['id']}/confirm",
        json={
            "payment_method": token,
            "client_secret": intent["client_secret"],
            "device_fingerprint": "dev_" + secrets.token_hex(16),
        },
        headers={**browser, **key()},
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "SUCCEEDED"
    assert "risk" not in paid.json()  # the browser's view has no risk assessment
    merchant_view = (await rest.get(f"/v1/payment_intents/{intent['id']}")).json()
    assert merchant_view["risk"]["decision"] == "ALLOW"


async def test_risk_settings_are_permission_gated_validated_and_audited(
    gateway: Gateway, rest: httpx.AsyncClient
) -> None:
    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        uow = SqlUnitOfWorkFactory(engine)
        seeded = await ApiKeys(uow, RandomIds(), SystemClock()).seed_merchant("Risk settings")
        owner = {"Authorization": f"Bearer {seeded.secret_key.plaintext}"}
        async with httpx.AsyncClient(base_url=gateway.rest_url, headers=owner, timeout=30) as http:
            before = (await http.get("/v1/risk_settings")).json()
            assert (before["review_threshold"], before["block_threshold"]) == (50, 80)
            assert {"name": "card_velocity", "kind": "velocity", "score": 100,
                    "enabled": True} in before["rules"]  # fmt: skip

            bad = await http.post(
                "/v1/risk_settings", json={"disabled_rules": ["nope"]}, headers=key()
            )
            assert bad.status_code == 400 and "disabled_rules" in bad.text

            updated = await http.post(
                "/v1/risk_settings",
                json={"block_threshold": 95, "disabled_rules": ["card_velocity"]},
                headers=key(),
            )
            assert updated.status_code == 200, updated.text
            body = updated.json()
            assert body["block_threshold"] == 95
            assert {"name": "card_velocity", "kind": "velocity", "score": 100,
                    "enabled": False} in body["rules"]  # fmt: skip

            staff_key = await http.post("/v1/api_keys", json={"type": "SECRET", "role": "STAFF"},
                                        headers=key())  # fmt: skip
            assert staff_key.status_code == 200, staff_key.text
            staff = {"Authorization": f"Bearer {staff_key.json()['secret']}"}
            denied = await http.post("/v1/risk_settings", json={}, headers={**staff, **key()})
            assert denied.status_code == 403, denied.text

        async with engine.connect() as conn:
            audited = (
                await conn.execute(
                    text(
                        "SELECT action, outcome, details->>'block_threshold' FROM audit_events"
                        " WHERE merchant_id = :m AND action = 'account.risk_rules_change'"
                    ),
                    {"m": seeded.merchant.id},
                )
            ).all()
        assert [tuple(row) for row in audited] == [("account.risk_rules_change", "SUCCESS", "95")]
    finally:
        await engine.dispose()


# --- two API processes, one Redis: the limit holds across them -----------------------------


@pytest.fixture
def api_processes(gateway_database_url: str, redis_url: str, tmp_path: Path) -> Iterator[list[str]]:
    with two_api_processes(gateway_database_url, redis_url, tmp_path) as addresses:
        yield addresses


@pytest.fixture
async def merchant_key(gateway_database_url: str) -> AsyncIterator[str]:
    engine = create_engine(gateway_database_url, pool_size=1)
    try:
        seeded = await ApiKeys(
            SqlUnitOfWorkFactory(engine), RandomIds(), SystemClock()
        ).seed_merchant("Two processes risk")
    finally:
        await engine.dispose()
    yield seeded.secret_key.plaintext


async def test_the_card_velocity_limit_holds_across_two_api_processes(
    api_processes: list[str], merchant_key: str
) -> None:
    metadata = (("authorization", f"Bearer {merchant_key}"),)
    channels = [grpc.aio.insecure_channel(address) for address in api_processes]
    try:
        for channel in channels:
            await wait_until_serving(channel)
        tokens = tokens_pb2_grpc.TokenServiceStub(channels[0])
        methods = payment_methods_pb2_grpc.PaymentMethodServiceStub(channels[1])
        token = await tokens.CreateToken(
            tokens_pb2.CreateTokenRequest(
                card=tokens_pb2.CardInput(
                    number=fresh_card(), exp_month=12, exp_year=2040, cvc="123"
                )
            ),
            metadata=metadata,
            timeout=30,
        )
        method = await methods.CreatePaymentMethod(
            payment_methods_pb2.CreatePaymentMethodRequest(token=token.id),
            metadata=metadata,
            timeout=30,
        )
        stubs = [payment_intents_pb2_grpc.PaymentIntentServiceStub(c) for c in channels]

        async def pay_on(process: int) -> str:
            stub = stubs[process]
            intent = await stub.CreatePaymentIntent(
                payment_intents_pb2.CreatePaymentIntentRequest(amount=700, currency="eur"),
                metadata=metadata,
                timeout=30,
            )
            try:
                paid = await stub.ConfirmPaymentIntent(
                    payment_intents_pb2.ConfirmPaymentIntentRequest(
                        id=intent.id, payment_method=method.id
                    ),
                    metadata=metadata,
                    timeout=30,
                )
            except grpc.aio.AioRpcError as error:
                status = rpc_status.from_call(error)
                assert status is not None
                for detail in status.details:
                    info = error_details_pb2.ErrorInfo()
                    if detail.Unpack(info):
                        return info.reason
                raise
            return payment_intents_pb2.PaymentIntent.Status.Name(paid.status)

        # Alternately: process 0, 1, 0, 1, 0 pay; the 6th, on process 1, is blocked.
        outcomes = [await pay_on(i % 2) for i in range(6)]
        # Then both at once: both are over the limit.
        burst = await asyncio.gather(pay_on(0), pay_on(1))
    finally:
        for channel in channels:
            await channel.close()
    assert outcomes == ["SUCCEEDED"] * 5 + ["RISK_BLOCKED"]
    assert list(burst) == ["RISK_BLOCKED", "RISK_BLOCKED"]
