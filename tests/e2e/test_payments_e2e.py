"""Payments through the real gateway, as a merchant sees them: tokens, confirm, capture,
refunds, UPI and idempotency, over Envoy (REST) and gRPC, against the acquirer process.

Every test card of API.md runs over both transports; the money paths (partial capture,
refunds, over-refunds, 100 racing confirms with one key, 50 racing refunds) check the
answers and then the database (read only) that nothing else was written.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from google.rpc import error_details_pb2
from grpclib.client import Channel
from grpclib.exceptions import GRPCError
from paygate_client.paygate import v1 as client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.model import Principal
from core.access.ports import RateLimitResult
from core.access.rate_limits import RateLimits
from core.access.roles import Role
from core.access.use_cases import ApiKeys
from tests.e2e.gateway import Gateway


def card(number: str) -> dict[str, Any]:
    """A test card's fields; amex has a 4-digit security code."""
    cvc = "1234" if number.startswith(("34", "37")) else "123"
    return {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": cvc}


APPROVED = [
    pytest.param("4242424242424242", "visa", id="visa"),
    pytest.param("5555555555554444", "mastercard", id="mastercard"),
    pytest.param("378282246310005", "amex", id="amex"),
]
# number -> (reason of the error and of last_payment_error.code, decline_code)
FAILING = [
    pytest.param("4000000000000002", "CARD_DECLINED", "generic_decline", id="generic_decline"),
    pytest.param("4000000000009995", "CARD_DECLINED", "insufficient_funds", id="insufficient"),
    pytest.param("4000000000000069", "CARD_DECLINED", "expired_card", id="expired_card"),
    pytest.param("4000000000000127", "CARD_DECLINED", "incorrect_cvc", id="incorrect_cvc"),
    pytest.param("4000000000000119", "PROCESSING_ERROR", "processing_error", id="processing"),
    pytest.param("4100000000000019", "RISK_BLOCKED", "", id="risk_blocked"),
]
TIMEOUT_CARD = "4000000000000408"
CHALLENGE_CARD = "4000002760003184"
DISPUTED_CARD = "4000000000000259"

TRANSPORTS = ["rest", "grpc"]

# --- helpers ------------------------------------------------------------------------------


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def error_info(body: dict[str, Any]) -> dict[str, Any]:
    infos = [d for d in body["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    assert len(infos) == 1, body
    return infos[0]


def grpc_error_info(error: GRPCError) -> error_details_pb2.ErrorInfo:
    infos = [d for d in error.details or () if isinstance(d, error_details_pb2.ErrorInfo)]
    assert len(infos) == 1, error
    return infos[0]


@pytest.fixture
async def rest(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {gateway.secret_key}"}
    async with httpx.AsyncClient(base_url=gateway.rest_url, headers=headers, timeout=30) as http:
        yield http


@pytest.fixture
async def db(gateway: Gateway) -> AsyncIterator[AsyncEngine]:
    """The gateway's database, for reading only (every query runs in a read-only
    transaction)."""
    engine = create_engine(gateway.database_url, pool_size=2)
    yield engine
    await engine.dispose()


@dataclass
class Burst:
    """A merchant of the test's own whose rate limits admit a burst of 100 calls, so
    that the race under test is the only thing that refuses calls (the default limit,
    100/second per merchant, would answer some of them 429)."""

    rest: httpx.AsyncClient
    gateway: Gateway


class _CountsNothing:
    async def hit(self, key: str, limit: str) -> RateLimitResult:
        raise AssertionError("configure() counts nothing")


@pytest.fixture
async def burst(gateway: Gateway) -> AsyncIterator[Burst]:
    engine = create_engine(gateway.database_url, pool_size=1)
    uow, clock = SqlUnitOfWorkFactory(engine), SystemClock()
    try:
        seeded = await ApiKeys(uow, RandomIds(), clock).seed_merchant("Burst e2e")
        owner = Principal(seeded.merchant.id, False, "usr_ops", Role.OWNER)
        for route_class in ("default", "payments_create"):
            await RateLimits(_CountsNothing(), uow, clock).configure(
                owner, route_class, ("1000/second",)
            )
    finally:
        await engine.dispose()
    own = dataclasses.replace(
        gateway,
        secret_key=seeded.secret_key.plaintext,
        publishable_key=seeded.publishable_key.plaintext,
        merchant_id=seeded.merchant.id,
    )
    headers = {"Authorization": f"Bearer {own.secret_key}"}
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(
        base_url=gateway.rest_url, headers=headers, timeout=60, limits=limits
    ) as http:
        yield Burst(http, own)


async def scalar(db: AsyncEngine, sql: str, **params: Any) -> Any:
    async with db.connect() as connection:
        await connection.execute(text("SET TRANSACTION READ ONLY"))
        value = (await connection.execute(text(sql), params)).scalar_one()
        await connection.rollback()
    return value


async def attempts_of(db: AsyncEngine, intent_id: str) -> int:
    return int(
        await scalar(
            db, "SELECT count(*) FROM payment_attempts WHERE payment_intent_id = :i", i=intent_id
        )
    )


async def events_of(db: AsyncEngine, intent_id: str) -> int:
    return int(
        await scalar(
            db, "SELECT count(*) FROM payment_events WHERE payment_intent_id = :i", i=intent_id
        )
    )


@dataclass
class Grpc:
    intents: client.PaymentIntentServiceStub
    tokens: client.TokenServiceStub
    refunds: client.RefundServiceStub
    secret: dict[str, str]
    public: dict[str, str]

    def with_key(self, metadata: dict[str, str]) -> dict[str, str]:
        """Per-call metadata replaces the stub's: the credential plus a new idempotency key."""
        return {**metadata, "idempotency-key": str(uuid.uuid4())}


@pytest.fixture
async def grpc_stubs(gateway: Gateway) -> AsyncIterator[Grpc]:
    host, port = gateway.grpc_target.rsplit(":", 1)
    channel = Channel(host, int(port))
    secret = {"authorization": f"Bearer {gateway.secret_key}"}
    public = {"authorization": f"Bearer {gateway.publishable_key}"}
    yield Grpc(
        client.PaymentIntentServiceStub(channel, metadata=secret),
        client.TokenServiceStub(channel, metadata=public),
        client.RefundServiceStub(channel, metadata=secret),
        secret,
        public,
    )
    channel.close()


async def tokenize(rest: httpx.AsyncClient, gateway: Gateway, number: str) -> dict[str, Any]:
    response = await rest.post(
        "/v1/tokens",
        json={"card": card(number)},
        headers={"Authorization": f"Bearer {gateway.publishable_key}", **key()},
    )
    assert response.status_code == 200, response.text
    token: dict[str, Any] = response.json()
    assert token["id"].startswith("tok_")
    return token


async def create_intent(
    rest: httpx.AsyncClient, amount: int = 2000, currency: str = "usd", **fields: Any
) -> dict[str, Any]:
    response = await rest.post(
        "/v1/payment_intents",
        json={"amount": amount, "currency": currency, **fields},
        headers=key(),
    )
    assert response.status_code == 200, response.text
    intent: dict[str, Any] = response.json()
    return intent


async def confirm(rest: httpx.AsyncClient, intent_id: str, **body: Any) -> httpx.Response:
    return await rest.post(f"/v1/payment_intents/{intent_id}/confirm", json=body, headers=key())


async def get_intent(rest: httpx.AsyncClient, intent_id: str) -> dict[str, Any]:
    response = await rest.get(f"/v1/payment_intents/{intent_id}")
    assert response.status_code == 200, response.text
    intent: dict[str, Any] = response.json()
    return intent


async def paid_intent(
    rest: httpx.AsyncClient, gateway: Gateway, amount: int, *, manual: bool = False
) -> dict[str, Any]:
    """An intent confirmed with the visa test card: SUCCEEDED, or REQUIRES_CAPTURE."""
    method = "MANUAL" if manual else "AUTOMATIC"
    intent = await create_intent(rest, amount, capture_method=method)
    token = await tokenize(rest, gateway, "4242424242424242")
    confirmed = await confirm(rest, intent["id"], payment_method=token["id"])
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == ("REQUIRES_CAPTURE" if manual else "SUCCEEDED")
    result: dict[str, Any] = confirmed.json()
    return result


async def refund(
    rest: httpx.AsyncClient, intent_id: str, amount: int, idempotency_key: str | None = None
) -> httpx.Response:
    return await rest.post(
        "/v1/refunds",
        json={"payment_intent": intent_id, "amount": amount},
        headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
    )


@dataclass
class Outcome:
    """What a confirm answered, the same over both transports: the intent on success, or
    the error's status, reason and metadata; and the intent read again afterwards."""

    status: str = ""
    error_code: str = ""
    reason: str = ""
    metadata: dict[str, str] | None = None
    intent: dict[str, Any] | None = None


async def confirm_card(
    transport: str,
    rest: httpx.AsyncClient,
    stubs: Grpc,
    gateway: Gateway,
    number: str,
    capture_method: str = "AUTOMATIC",
) -> Outcome:
    """Tokenizes `number` with the publishable key, creates an intent and confirms it over
    `transport`; returns what the confirm answered and the intent as GET shows it after."""
    intent = await create_intent(rest, 2000, capture_method=capture_method)
    outcome = Outcome()
    if transport == "rest":
        token = await tokenize(rest, gateway, number)
        response = await confirm(rest, intent["id"], payment_method=token["id"])
        if response.status_code == 200:
            outcome.status = response.json()["status"]
        else:
            info = error_info(response.json())
            outcome.error_code = str(response.status_code)
            outcome.reason, outcome.metadata = info["reason"], info["metadata"]
    else:
        token = await stubs.tokens.create_token(
            client.CreateTokenRequest(card=client.CardInput(**card(number))),
            metadata=stubs.with_key(stubs.public),
        )
        try:
            answer = await stubs.intents.confirm_payment_intent(
                client.ConfirmPaymentIntentRequest(id=intent["id"], payment_method=token.id),
                metadata=stubs.with_key(stubs.secret),
            )
        except GRPCError as error:
            info = grpc_error_info(error)
            outcome.error_code = error.status.name
            outcome.reason, outcome.metadata = info.reason, dict(info.metadata)
        else:
            outcome.status = answer.status.name
    outcome.intent = await get_intent(rest, intent["id"])
    return outcome


# --- every test card, over REST and over gRPC ---------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("number", "brand"), APPROVED)
@pytest.mark.parametrize(
    ("capture_method", "status"), [("AUTOMATIC", "SUCCEEDED"), ("MANUAL", "REQUIRES_CAPTURE")]
)
async def test_approved_cards(
    rest: httpx.AsyncClient,
    grpc_stubs: Grpc,
    gateway: Gateway,
    transport: str,
    number: str,
    brand: str,
    capture_method: str,
    status: str,
) -> None:
    token = await tokenize(rest, gateway, number)
    assert (token["card"]["brand"], token["card"]["last4"]) == (brand, number[-4:])

    outcome = await confirm_card(transport, rest, grpc_stubs, gateway, number, capture_method)
    assert (outcome.status, outcome.error_code) == (status, "")
    intent = outcome.intent
    assert intent is not None
    assert intent["status"] == status
    if status == "SUCCEEDED":
        assert (intent["amount_received"], intent["amount_capturable"]) == ("2000", "0")
    else:
        assert (intent["amount_received"], intent["amount_capturable"]) == ("0", "2000")
    assert "last_payment_error" not in intent or not intent["last_payment_error"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("number", "reason", "decline_code"), FAILING)
async def test_failing_cards(
    rest: httpx.AsyncClient,
    grpc_stubs: Grpc,
    gateway: Gateway,
    db: AsyncEngine,
    transport: str,
    number: str,
    reason: str,
    decline_code: str,
) -> None:
    outcome = await confirm_card(transport, rest, grpc_stubs, gateway, number)
    assert outcome.error_code == ("400" if transport == "rest" else "FAILED_PRECONDITION")
    assert outcome.reason == reason
    assert outcome.metadata is not None and outcome.intent is not None
    assert outcome.metadata.get("decline_code", "") == decline_code
    assert outcome.metadata["payment_intent"] == outcome.intent["id"]
    assert outcome.metadata["attempt"].startswith("pa_")
    if reason == "PROCESSING_ERROR":
        assert outcome.metadata["retryable"] == "true"

    intent = outcome.intent
    assert intent["status"] == "REQUIRES_PAYMENT_METHOD"
    error = intent["last_payment_error"]
    assert (error["code"], error.get("decline_code", "")) == (reason, decline_code)
    assert error["message"]
    assert (intent["amount_received"], intent["amount_capturable"]) == ("0", "0")
    # The attempt is recorded (FAILED), risk blocks included, and no card number with it.
    assert await attempts_of(db, intent["id"]) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_timeout_card_stays_processing(
    rest: httpx.AsyncClient, grpc_stubs: Grpc, gateway: Gateway, transport: str
) -> None:
    # MANUAL: an automatic one is a sale, captured at the acquirer (and in its settlement
    # file) until recovery records it, after this session's reconciliation of the day
    # (test_ledger_e2e.py) has run. Its lost answer is tests/unit/payments/test_sale.py's
    # and tests/faults/test_split_vault_faults.py's.
    outcome = await confirm_card(
        transport, rest, grpc_stubs, gateway, TIMEOUT_CARD, capture_method="MANUAL"
    )
    # The outcome is unknown: answered 200 with the intent PROCESSING, never a decline.
    assert (outcome.status, outcome.error_code) == ("PROCESSING", "")
    assert outcome.intent is not None
    assert outcome.intent["status"] == "PROCESSING"
    assert "last_payment_error" not in outcome.intent or not outcome.intent["last_payment_error"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_challenge_card_requires_action(
    rest: httpx.AsyncClient, grpc_stubs: Grpc, gateway: Gateway, transport: str
) -> None:
    outcome = await confirm_card(transport, rest, grpc_stubs, gateway, CHALLENGE_CARD)
    assert (outcome.status, outcome.error_code) == ("REQUIRES_ACTION", "")
    intent = outcome.intent
    assert intent is not None
    assert intent["status"] == "REQUIRES_ACTION"
    assert intent["next_action"]["type"] == "REDIRECT_TO_URL"
    url = httpx.URL(intent["next_action"]["url"])
    assert url.scheme in ("http", "https")
    assert url.path.startswith("/3ds/pa_")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_disputed_card_is_approved(
    rest: httpx.AsyncClient, grpc_stubs: Grpc, gateway: Gateway, transport: str
) -> None:
    outcome = await confirm_card(transport, rest, grpc_stubs, gateway, DISPUTED_CARD)
    assert (outcome.status, outcome.error_code) == ("SUCCEEDED", "")
    assert outcome.intent is not None
    assert outcome.intent["amount_received"] == "2000"


# --- UPI ----------------------------------------------------------------------------------


async def upi_collect(rest: httpx.AsyncClient) -> dict[str, Any]:
    intent = await create_intent(rest, 50_000, "inr", payment_method_types=["upi"])
    response = await confirm(rest, intent["id"], upi={"vpa": "success@upi"})
    assert response.status_code == 200, response.text
    confirmed: dict[str, Any] = response.json()
    return confirmed


async def test_upi_collect_asks_the_payer(rest: httpx.AsyncClient) -> None:
    confirmed = await upi_collect(rest)
    assert confirmed["status"] == "REQUIRES_ACTION"
    action = confirmed["next_action"]
    assert action["type"] == "UPI_COLLECT"
    assert action["url"].startswith("upi://")
    prefix = "data:image/png;base64,"
    assert action["qr_code"].startswith(prefix)
    assert base64.b64decode(action["qr_code"][len(prefix) :])[:8] == b"\x89PNG\r\n\x1a\n"


async def test_upi_collect_completes(rest: httpx.AsyncClient) -> None:
    confirmed = await upi_collect(rest)
    # success@upi approves after a short delay (PAYGATE_UPI_APPROVAL_DELAY, 2 s); the
    # automatic capture follows (PROCESSING while it is in flight).
    deadline = time.monotonic() + 20
    status = confirmed["status"]
    while status in ("REQUIRES_ACTION", "PROCESSING") and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        status = (await get_intent(rest, confirmed["id"]))["status"]
    assert status == "SUCCEEDED"


async def test_upi_invalid_vpa_is_invalid_argument(
    rest: httpx.AsyncClient, db: AsyncEngine
) -> None:
    intent = await create_intent(rest, 50_000, "inr", payment_method_types=["upi"])
    response = await confirm(rest, intent["id"], upi={"vpa": "not a vpa"})
    assert response.status_code == 400, response.text
    info = error_info(response.json())
    assert info["metadata"]["param"] == "upi.vpa"
    violations = [d for d in response.json()["details"] if d["@type"].endswith("BadRequest")]
    assert [v["field"] for v in violations[0]["field_violations"]] == ["upi.vpa"]
    assert (await get_intent(rest, intent["id"]))["status"] == "REQUIRES_PAYMENT_METHOD"
    assert await attempts_of(db, intent["id"]) == 0


# --- capture and refunds ------------------------------------------------------------------


async def test_partial_capture_then_refunds_within_what_was_received(
    rest: httpx.AsyncClient, gateway: Gateway, db: AsyncEngine
) -> None:
    intent = await paid_intent(rest, gateway, 10_000, manual=True)
    pi = intent["id"]
    assert intent["amount_capturable"] == "10000"

    # More than is capturable: refused, nothing written.
    events = await events_of(db, pi)
    too_much = await rest.post(
        f"/v1/payment_intents/{pi}/capture", json={"amount_to_capture": 10_001}, headers=key()
    )
    assert too_much.status_code == 400, too_much.text
    info = error_info(too_much.json())
    assert info["reason"] == "AMOUNT_TOO_LARGE"
    assert info["metadata"]["param"] == "amount_to_capture"
    assert info["metadata"]["amount_capturable"] == "10000"
    assert await events_of(db, pi) == events
    after = await get_intent(rest, pi)
    assert (after["status"], after["amount_capturable"]) == ("REQUIRES_CAPTURE", "10000")

    captured = await rest.post(
        f"/v1/payment_intents/{pi}/capture", json={"amount_to_capture": 6000}, headers=key()
    )
    assert captured.status_code == 200, captured.text
    got = captured.json()
    assert got["status"] == "SUCCEEDED"
    assert (got["amount_received"], got["amount_capturable"]) == ("6000", "0")

    first = await refund(rest, pi, 2000)
    second = await refund(rest, pi, 1500)
    for response, amount in ((first, "2000"), (second, "1500")):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"].startswith("re_")
        assert (body["payment_intent"], body["amount"], body["currency"]) == (pi, amount, "USD")
        assert body["status"] == "SUCCEEDED"
    assert (await get_intent(rest, pi))["amount_refunded"] == "3500"
    listed = await rest.get("/v1/refunds", params={"payment_intent": pi})
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["data"]] == [second.json()["id"], first.json()["id"]]

    # 3000 > the 2500 left: refused, and nothing is written.
    events = await events_of(db, pi)
    over = await refund(rest, pi, 3000)
    assert over.status_code == 400, over.text
    info = error_info(over.json())
    assert info["reason"] == "AMOUNT_TOO_LARGE"
    assert (info["metadata"]["param"], info["metadata"]["amount_refundable"]) == ("amount", "2500")
    assert await events_of(db, pi) == events
    assert (await get_intent(rest, pi))["amount_refunded"] == "3500"
    again = await rest.get("/v1/refunds", params={"payment_intent": pi})
    assert len(again.json()["data"]) == 2
    refunds_in_db = await scalar(
        db, "SELECT count(*) FROM refunds WHERE payment_intent_id = :i", i=pi
    )
    assert refunds_in_db == 2


# --- concurrency --------------------------------------------------------------------------


async def test_concurrent_confirms_with_one_key_authorize_once(
    burst: Burst, db: AsyncEngine
) -> None:
    rest = burst.rest
    intent = await create_intent(rest, 4200)
    token = await tokenize(rest, burst.gateway, "4242424242424242")
    same = {"Idempotency-Key": str(uuid.uuid4())}
    path = f"/v1/payment_intents/{intent['id']}/confirm"
    answers = await asyncio.gather(
        *(rest.post(path, json={"payment_method": token["id"]}, headers=same) for _ in range(100))
    )

    ok = [a for a in answers if a.status_code == 200]
    busy = [a for a in answers if a.status_code == 409]
    assert len(ok) + len(busy) == 100, [(a.status_code, a.text) for a in answers]
    assert ok, "at least the first confirm answers 200"
    assert {a.content for a in ok} == {ok[0].content}  # byte for byte the same answer
    assert ok[0].json()["status"] == "SUCCEEDED"
    for answer in busy:
        assert error_info(answer.json())["reason"] == "IDEMPOTENCY_KEY_IN_USE"

    assert await attempts_of(db, intent["id"]) == 1
    final = await get_intent(rest, intent["id"])
    assert (final["status"], final["amount_received"]) == ("SUCCEEDED", "4200")


async def test_concurrent_refunds_never_exceed_what_was_captured(
    burst: Burst, db: AsyncEngine
) -> None:
    rest = burst.rest
    intent = await paid_intent(rest, burst.gateway, 10_000)
    pi = intent["id"]
    answers = await asyncio.gather(*(refund(rest, pi, 300) for _ in range(50)))

    succeeded = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert len(succeeded) * 300 <= 10_000
    assert len(succeeded) == 33, [(a.status_code, a.text) for a in refused]
    for answer in refused:
        assert answer.status_code == 400, answer.text
        assert error_info(answer.json())["reason"] == "AMOUNT_TOO_LARGE"
    assert all(a.json()["status"] == "SUCCEEDED" for a in succeeded)

    refunded = sum(int(a.json()["amount"]) for a in succeeded)
    assert (await get_intent(rest, pi))["amount_refunded"] == str(refunded)
    in_db = await scalar(
        db,
        "SELECT coalesce(sum(amount), 0) FROM refunds"
        " WHERE payment_intent_id = :i AND status = 'SUCCEEDED'",
        i=pi,
    )
    assert in_db == refunded
    on_intent = await scalar(db, "SELECT amount_refunded FROM payment_intents WHERE id = :i", i=pi)
    assert on_intent == refunded
