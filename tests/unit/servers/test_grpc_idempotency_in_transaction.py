"""Idempotency-Key on confirm over PostgreSQL, claimed by the payment's phase 1 and answered
by its last phase (core/idempotency/call.py): the same guarantees as a key with
transactions of its own, in two commits fewer.

Which transaction wrote a row is its xmin: the key's row and the payment_events row of a
phase carry the same one when they were committed together.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from paygate.v1 import payment_intents_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import rich_errors
from adapters.sql.idempotency import Executor, KeyInTransaction, SqlIdempotencyStore
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import SystemClock
from core.idempotency.call import ClaimLost
from core.idempotency.use_cases import Idempotency
from core.payments.ports import CardForPayment, CardProfile
from servers.roles.api import start
from servers.runtime.settings import Settings
from tests.fakes import in_memory_app
from tests.fakes.card_vault import MemoryCardVault

PI = payment_intents_pb2
CREATE = "/paygate.v1.PaymentIntentService/CreatePaymentIntent"
CONFIRM = "/paygate.v1.PaymentIntentService/ConfirmPaymentIntent"
CAPTURE = "/paygate.v1.PaymentIntentService/CapturePaymentIntent"


class HeldVault(MemoryCardVault):
    """Holds the zone's detokenization (phase 2, after phase 1 committed) while `held`, and
    the confirm that reads the first card profile after `held_once` is set (before its
    phase 1) until it is."""

    def __init__(self) -> None:
        super().__init__()
        self.held: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.held_once: asyncio.Event | None = None

    async def card_profile(
        self, merchant_id: str, payment_method: str, *, livemode: bool
    ) -> CardProfile:
        profile = await super().card_profile(merchant_id, payment_method, livemode=livemode)
        held, self.held_once = self.held_once, None
        if held is not None:
            self.entered.set()
            await held.wait()
        return profile

    async def card_for_payment(
        self, merchant_id: str, payment_method: str, *, livemode: bool, purpose: str
    ) -> CardForPayment:
        if self.held is not None:
            self.entered.set()
            await self.held.wait()
        return await super().card_for_payment(
            merchant_id, payment_method, livemode=livemode, purpose=purpose
        )


@dataclass
class Api:
    channel: grpc.aio.Channel
    engine: AsyncEngine
    vault: HeldVault
    merchant_id: str
    secret_key: str

    async def raw(self, method: str, request: Any, key: str | None) -> tuple[bytes, dict[str, str]]:
        metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {self.secret_key}"),)
        if key is not None:
            metadata += (("idempotency-key", key),)
        call = self.channel.unary_unary(method, request_serializer=type(request).SerializeToString)(
            request, metadata=metadata
        )
        data: bytes = await call
        return data, dict(await call.initial_metadata())

    async def fails(self, method: str, request: Any, key: str | None) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await self.raw(method, request, key)
        return raised.value

    async def intent(self, **fields: Any) -> str:
        request = PI.CreatePaymentIntentRequest(currency="usd", **fields)
        data, _ = await self.raw(CREATE, request, None)
        return PI.PaymentIntent.FromString(data).id

    def confirm(self, intent_id: str, number: str = "4242424242424242") -> Any:
        token = self.vault.add_token(self.merchant_id, number)
        return PI.ConfirmPaymentIntentRequest(id=intent_id, payment_method=token)

    async def one(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as connection:
            return (await connection.execute(text(sql), params)).one()

    async def key(self, key: str) -> Any:
        return await self.one(
            "SELECT status, response, xmin::text AS tx FROM idempotency_keys"
            " WHERE merchant_id = :m AND key = :k",
            m=self.merchant_id,
            k=key,
        )

    async def phase(self, intent_id: str, to_status: str) -> str:
        row = await self.one(
            "SELECT xmin::text AS tx FROM payment_events"
            " WHERE payment_intent_id = :i AND to_status = :s AND kind = 'STATUS_CHANGED'",
            i=intent_id,
            s=to_status,
        )
        return str(row.tx)

    async def attempts(self, intent_id: str) -> int:
        row = await self.one(
            "SELECT count(*) AS n FROM payment_attempts WHERE payment_intent_id = :i", i=intent_id
        )
        return int(row.n)


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    vault = HeldVault()
    app = in_memory_app(
        SqlUnitOfWorkFactory(engine),
        settings=Settings(upi_approval_delay=0),
        card_vault=vault,
    )
    app.idempotency = Idempotency(
        SqlIdempotencyStore(engine),
        SystemClock(),
        hash_key=b"test-hash-key-of-32-bytes-length",
        claims_in_transaction=True,
    )
    seeded = await app.api_keys.seed_merchant("Shop")
    server, _, port = await start(app, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Api(channel, engine, vault, seeded.merchant.id, seeded.secret_key.plaintext)
    finally:
        await server.stop(None)
        await app.aclose()


def reason(error: grpc.aio.AioRpcError) -> str:
    rich = rich_errors.read(error)
    assert rich.info is not None
    return rich.reason


async def test_phase_1_claims_the_key_and_the_last_phase_stores_the_answer(api: Api) -> None:
    intent_id = await api.intent(amount=2500)
    request = api.confirm(intent_id)
    api.vault.held = asyncio.Event()
    first = asyncio.create_task(api.raw(CONFIRM, request, "confirm-1"))
    await api.vault.entered.wait()

    # Between phase 1 and the acquirer's answer: the key is held, by phase 1's commit.
    claimed = await api.key("confirm-1")
    assert claimed.status == "IN_FLIGHT"
    assert claimed.tx == await api.phase(intent_id, "PROCESSING")
    duplicate = await api.fails(CONFIRM, request, "confirm-1")
    assert duplicate.code() == grpc.StatusCode.ABORTED
    assert reason(duplicate) == "IDEMPOTENCY_KEY_IN_USE"

    api.vault.held.set()
    answer, headers = await first
    assert PI.PaymentIntent.FromString(answer).status == PI.PaymentIntent.SUCCEEDED
    assert "idempotent-replayed" not in headers
    stored = await api.key("confirm-1")
    assert (stored.status, bytes(stored.response)) == ("COMPLETED", answer)
    assert stored.tx == await api.phase(intent_id, "SUCCEEDED")

    again, headers = await api.raw(CONFIRM, request, "confirm-1")
    assert (again, headers["idempotent-replayed"]) == (answer, "true")
    assert await api.attempts(intent_id) == 1


async def test_a_claim_lost_in_phase_1_rolls_back_and_answers_the_winners_answer(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost: list[ClaimLost] = []
    began = KeyInTransaction.began

    async def watched(self: KeyInTransaction, connection: Executor) -> None:
        try:
            await began(self, connection)
        except ClaimLost as error:
            lost.append(error)
            raise

    monkeypatch.setattr(KeyInTransaction, "began", watched)
    intent_id = await api.intent(amount=2500)
    request = api.confirm(intent_id)
    api.vault.held_once = proceed = asyncio.Event()
    late = asyncio.create_task(api.raw(CONFIRM, request, "race-1"))
    await api.vault.entered.wait()  # read the key (free), now before its phase 1
    winner, _ = await api.raw(CONFIRM, request, "race-1")
    proceed.set()
    answer, headers = await late
    assert (answer, headers["idempotent-replayed"]) == (winner, "true")
    assert len(lost) == 1
    assert await api.attempts(intent_id) == 1


async def test_a_declined_confirm_keeps_its_error_for_replays(api: Api) -> None:
    intent_id = await api.intent(amount=2500)
    request = api.confirm(intent_id, "4000000000000002")
    first = await api.fails(CONFIRM, request, "declined-1")
    assert (first.code(), reason(first)) == (grpc.StatusCode.FAILED_PRECONDITION, "CARD_DECLINED")
    again = await api.fails(CONFIRM, request, "declined-1")
    assert again.trailing_metadata() == first.trailing_metadata()
    assert (await api.key("declined-1")).status == "COMPLETED"
    assert await api.attempts(intent_id) == 1


async def test_a_confirm_that_wrote_nothing_still_keeps_its_final_error(api: Api) -> None:
    request = api.confirm("pi_0000000000000000000000nothere")
    first = await api.fails(CONFIRM, request, "missing-1")
    assert first.code() == grpc.StatusCode.NOT_FOUND
    assert (await api.key("missing-1")).status == "COMPLETED"
    again = await api.fails(CONFIRM, request, "missing-1")
    assert again.trailing_metadata() == first.trailing_metadata()


async def test_the_same_key_on_another_request_is_refused(api: Api) -> None:
    intent_id = await api.intent(amount=2500)
    await api.raw(CONFIRM, api.confirm(intent_id), "reused-1")
    error = await api.fails(CONFIRM, api.confirm(intent_id), "reused-1")  # another token
    assert (error.code(), reason(error)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "IDEMPOTENCY_KEY_REUSED",
    )


async def burst(api: Api, method: str, request: Any, key: str) -> set[bytes]:
    """20 calls at once with one key: the answers they got (one, or the test fails);
    the others may only have been told the key is in use."""

    async def one() -> bytes | str:
        try:
            return (await api.raw(method, request, key))[0]
        except grpc.aio.AioRpcError as error:
            return reason(error)

    results = await asyncio.gather(*(one() for _ in range(20)))
    answers = {r for r in results if isinstance(r, bytes)}
    assert len(answers) == 1
    assert {r for r in results if isinstance(r, str)} <= {"IDEMPOTENCY_KEY_IN_USE"}
    return answers


async def test_concurrent_duplicates_make_one_attempt_and_get_one_answer(api: Api) -> None:
    intent_id = await api.intent(amount=2500)
    request = api.confirm(intent_id)
    answers = await burst(api, CONFIRM, request, "burst-1")
    assert await api.attempts(intent_id) == 1
    assert (await api.raw(CONFIRM, request, "burst-1"))[0] in answers


async def test_a_manual_capture_is_answered_by_its_own_last_phase(api: Api) -> None:
    intent_id = await api.intent(amount=2500, capture_method=PI.PaymentIntent.MANUAL)
    await api.raw(CONFIRM, api.confirm(intent_id), "authorize-1")
    assert (await api.key("authorize-1")).tx == await api.phase(intent_id, "REQUIRES_CAPTURE")

    request = PI.CapturePaymentIntentRequest(id=intent_id)
    answer, _ = await api.raw(CAPTURE, request, "capture-1")
    stored = await api.key("capture-1")
    assert (stored.status, bytes(stored.response)) == ("COMPLETED", answer)
    assert stored.tx == await api.phase(intent_id, "SUCCEEDED")
    assert (await api.raw(CAPTURE, request, "capture-1"))[0] == answer


async def intents_of(api: Api) -> int:
    row = await api.one(
        "SELECT count(*) AS n FROM payment_intents WHERE merchant_id = :m", m=api.merchant_id
    )
    return int(row.n)


async def test_a_create_stores_its_answer_in_the_intents_own_transaction(api: Api) -> None:
    request = PI.CreatePaymentIntentRequest(amount=2500, currency="usd")
    answer, headers = await api.raw(CREATE, request, "create-1")
    created = PI.PaymentIntent.FromString(answer)
    assert "idempotent-replayed" not in headers
    stored = await api.key("create-1")
    assert (stored.status, bytes(stored.response)) == ("COMPLETED", answer)
    # One commit: the key's row and the intent's first history line share a transaction.
    assert stored.tx == await api.phase(created.id, "REQUIRES_PAYMENT_METHOD")

    again, headers = await api.raw(CREATE, request, "create-1")
    assert (again, headers["idempotent-replayed"]) == (answer, "true")
    other = PI.CreatePaymentIntentRequest(amount=2600, currency="usd")
    error = await api.fails(CREATE, other, "create-1")
    assert reason(error) == "IDEMPOTENCY_KEY_REUSED"
    assert await intents_of(api) == 1


async def test_a_refused_create_leaves_the_key_free(api: Api) -> None:
    request = PI.CreatePaymentIntentRequest(amount=2500, currency="xyz")
    first = await api.fails(CREATE, request, "bad-create-1")
    assert first.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await intents_of(api) == 0
    # Bad input keeps no key (core/idempotency/model.py): the corrected request may use it.
    fixed = PI.CreatePaymentIntentRequest(amount=2500, currency="usd")
    answer, _ = await api.raw(CREATE, fixed, "bad-create-1")
    assert bytes((await api.key("bad-create-1")).response) == answer
    assert await intents_of(api) == 1


async def test_concurrent_duplicate_creates_make_one_intent(api: Api) -> None:
    request = PI.CreatePaymentIntentRequest(amount=2500, currency="usd")
    await burst(api, CREATE, request, "create-burst-1")  # the create limit's 20 a second
    assert await intents_of(api) == 1
