"""A confirm's phase 1 (the Idempotency-Key's claim, the attempt with its intent, the
outbox's event with its deliveries) is one statement sent alone on PostgreSQL, undone
whole when the claim or the intent's versioned write wrote nothing (the claim lost: the
call answers as a lost claim; the intent moved: the locked path, with the claim, in a
transaction). Its phase 3 (the answer with its intent and attempt, the ledger's entry with its
postings, the outbox's event with its deliveries, the Idempotency-Key's answer) is one
statement sent alone on PostgreSQL (adapters/sql/held.py): all of it or nothing, on the
fake and on PostgreSQL alike. A version moved during the acquirer call writes nothing of
it, and the answer is applied to the rows read locked, as before.

Round trips are counted as asyncpg's writes to the server's socket
(tests/contract/round_trips.py), on a warm connection: deterministic, whatever the load.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from secrets import token_hex
from typing import Any

import pytest

from adapters.sql import unit_of_work
from adapters.sql.engine import create_engine
from adapters.sql.idempotency import SqlIdempotencyStore
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.idempotency.call import ClaimLost, DeferredClaim, current
from core.idempotency.model import Claim, Outcome, Record, Scope, State
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.model import AttemptStatus, PaymentIntent, Status
from core.payments.use_cases import UpdatePaymentIntent
from core.unit_of_work import UnitOfWorkFactory
from tests.contract.confirm_shop import Shop, books_of, shop_of
from tests.contract.helpers import add_merchant
from tests.contract.round_trips import CountedPool
from tests.contract.test_events_contract import endpoint
from tests.fakes import FixedClock

_CONFIRM = "/paygate.v1.PaymentIntentService/ConfirmPaymentIntent"
_LATER = datetime(2100, 1, 1, tzinfo=UTC)


class _Shop(Shop):
    async def confirm(self, intent: PaymentIntent, call: DeferredClaim | None = None) -> Any:
        token = self.token()
        reset = current.set(call)
        try:
            return await self.payments.confirm(
                self.key, intent.id, ConfirmPaymentIntent(payment_method=token)
            )
        finally:
            current.reset(reset)

    async def another_call(self, call: Awaitable[Any]) -> None:
        """`call` run as another request's, which carries no key of the confirm's."""
        reset = current.set(None)
        try:
            await call
        finally:
            current.reset(reset)

    def call(self, key: str = "", request_hash: bytes = b"\x02" * 32) -> DeferredClaim:
        """The confirm's Idempotency-Key, claimed and answered in its own transactions."""
        clock = FixedClock(_LATER)
        now = clock.now()
        scope = Scope(self.merchant_id, _CONFIRM, key or token_hex(8))
        record = Record(scope, request_hash, State.IN_FLIGHT, now, now + timedelta(seconds=60))
        return DeferredClaim(
            record, now, now - timedelta(days=1), clock, render=lambda answer: b"answered"
        )


def _shop(uow: UnitOfWorkFactory, merchant_id: str) -> _Shop:
    # Its deliveries fall due long after any other test's clock: on the shared database
    # they must not crowd another test's claim (test_events_contract.py).
    clock = FixedClock(_LATER)
    ids = RandomIds()
    books = books_of(ids, clock)
    return shop_of(
        _Shop,
        uow,
        merchant_id,
        clock,
        actor="key_phases",
        amount=1_500,
        currency="usd",
        books=books,
        ids=ids,
    )


@pytest.fixture
def shop(any_uow_factory: UnitOfWorkFactory, merchant_id: str) -> _Shop:
    return _shop(any_uow_factory, merchant_id)


async def test_a_paid_confirm_writes_everything_of_phase_3_and_stores_its_answer(
    shop: _Shop,
) -> None:
    intent = await shop.intent()
    call = shop.call()
    paid = await shop.confirm(intent, call)
    assert paid.status is Status.SUCCEEDED
    stored, attempts, history, entries, events = await shop.written(intent.id)
    assert stored.status is Status.SUCCEEDED and stored.version == paid.version
    assert attempts == [AttemptStatus.CAPTURED]
    assert history[-1] is Status.SUCCEEDED and history.count(Status.SUCCEEDED) == 1
    assert len(entries) == 1
    assert events.count("payment_intent.succeeded") == 1
    if isinstance(shop.uow, SqlUnitOfWorkFactory):  # the fake keeps no keys
        assert call.claimed and call.answer is not None
        assert call.answer.response == b"answered"


async def test_an_intent_moved_during_the_call_writes_nothing_of_the_stale_phase_3(
    shop: _Shop,
) -> None:
    """The held phase 3 wrote nothing at the moved versions: one ledger entry, one event
    and one SUCCEEDED line, from the rows read locked; the answer stored with them."""
    intent = await shop.intent()

    async def lease() -> None:
        attempt_id = (await shop.written(intent.id))[0].latest_attempt
        async with shop.uow() as uow:
            pair = await uow.payment_attempts.locked_with_intent(shop.merchant_id, attempt_id)
            assert pair is not None
            await uow.payment_attempts.update(pair[1])
            await uow.commit()

    shop.network.during_the_call = lease
    call = shop.call()
    paid = await shop.confirm(intent, call)
    assert paid.status is Status.SUCCEEDED
    stored, attempts, history, entries, events = await shop.written(intent.id)
    assert stored.status is Status.SUCCEEDED and attempts == [AttemptStatus.CAPTURED]
    assert history.count(Status.SUCCEEDED) == 1 and len(entries) == 1
    assert events.count("payment_intent.succeeded") == 1
    if isinstance(shop.uow, SqlUnitOfWorkFactory):  # the fake keeps no keys
        assert call.answer is not None


# --- PostgreSQL: round trips, fail points, a cut between the writes ---------------------


@pytest.fixture
async def pool(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[CountedPool]:
    engine = create_engine(database_url, pool_size=1)
    counted = CountedPool(engine)
    await counted.count_writes(monkeypatch)
    try:
        yield counted
    finally:
        await engine.dispose()


async def _phases(pool: CountedPool, *, subscribed: int = 1, keyed: bool = True) -> tuple[int, int]:
    """The round trips of a warm confirm (keyed unless told): up to the acquirer call
    (the load and phase 1), and after it (phase 3)."""
    factory = SqlUnitOfWorkFactory(pool.engine)
    ids = RandomIds()
    shop = _shop(factory, await add_merchant(factory, ids))
    async with factory() as uow:
        for _ in range(subscribed):
            await uow.webhook_endpoints.add(endpoint(ids, shop.merchant_id))
        await uow.commit()
    for _ in range(3):  # the terms read once, each statement prepared once per connection
        await shop.confirm(await shop.intent(), shop.call() if keyed else None)
    intent = await shop.intent()
    at_the_call: list[int] = []

    async def count() -> None:
        at_the_call.append(pool.writes)

    shop.network.during_the_call = count
    before = pool.writes
    call = shop.call() if keyed else None
    assert (await shop.confirm(intent, call)).status is Status.SUCCEEDED
    return at_the_call[0] - before, pool.writes - at_the_call[0]


async def test_phase_1_and_phase_3_are_one_round_trip_each(pool: CountedPool) -> None:
    # Phase 3 before: BEGIN, the answer with its intent, the ledger, the event, the key's
    # answer, COMMIT. The load and phase 1 before: the intent's read, BEGIN, the key's
    # claim, the attempt with its intent, the event, COMMIT (6); now the read and one
    # statement alone.
    assert await _phases(pool) == (2, 1)


async def test_phase_1_without_a_key_is_one_round_trip(pool: CountedPool) -> None:
    # Before: the read, BEGIN, the attempt with its intent, the event, COMMIT (5).
    assert await _phases(pool, keyed=False) == (2, 1)


async def test_phase_3_with_more_endpoints_than_ids_made_ahead_is_written_as_before(
    pool: CountedPool,
) -> None:
    # The statement that wrote nothing, then BEGIN, the answer with its intent, the
    # ledger, the event, the deliveries left over, the key's answer, COMMIT.
    assert (await _phases(pool, subscribed=4))[1] == 8


async def test_phase_3_names_every_table_it_writes_at_its_fail_points(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = _shop(uow_factory, await add_merchant(uow_factory, ids))
    intent = await shop.intent()
    passed: list[str] = []
    monkeypatch.setattr(unit_of_work, "ARMED", True)
    monkeypatch.setattr(unit_of_work, "fail_point", passed.append)
    await shop.confirm(intent, shop.call())
    tables = (
        "events+idempotency_keys+ledger_entries+ledger_postings+ledger_unsettled"
        "+payment_attempts+payment_events+payment_intents+webhook_deliveries"
    )
    assert passed[-2:] == [f"sql.commit.before:{tables}", f"sql.commit.after:{tables}"]


async def test_a_crash_before_phase_3_commits_leaves_the_attempt_in_flight(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault between the held writes and the statement that sends them: nothing of
    phase 3 is written, and the key is not answered."""
    shop = _shop(uow_factory, await add_merchant(uow_factory, ids))
    intent = await shop.intent()

    def crash(name: str) -> None:
        if name.startswith("sql.commit.before:") and "ledger_entries" in name:
            raise RuntimeError("crashed before phase 3's statement")

    monkeypatch.setattr(unit_of_work, "ARMED", True)
    monkeypatch.setattr(unit_of_work, "fail_point", crash)
    call = shop.call()
    with pytest.raises(RuntimeError, match="phase 3"):
        await shop.confirm(intent, call)
    stored, attempts, history, entries, events = await shop.written(intent.id)
    assert stored.status is Status.PROCESSING and attempts == [AttemptStatus.PROCESSING]
    assert Status.SUCCEEDED not in history and entries == []
    assert "payment_intent.succeeded" not in events
    assert call.claimed and call.answer is None


# --- phase 1: a lost claim, a moved intent, a fault ------------------------------------

_MOVE = UpdatePaymentIntent(metadata={"o": "1"})
_PHASE_1 = (
    "events+idempotency_keys+payment_attempts+payment_events+payment_intents+webhook_deliveries"
)


@pytest.mark.parametrize("holder", ["in_flight", "completed", "another_request"])
async def test_a_lost_claim_writes_nothing_of_phase_1_and_answers_as_before(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, holder: str
) -> None:
    """The key held by another call in flight, completed, or taken by another request's
    hash: the statement wrote nothing (the claim guards the intent's write), the key's
    row is as it was, and the call answers as a lost claim (ClaimLost)."""
    shop = _shop(uow_factory, await add_merchant(uow_factory, ids))
    intent = await shop.intent()
    created = await shop.written(intent.id)
    call = shop.call()
    store = SqlIdempotencyStore(uow_factory.engine)
    scope, locked_until = call.record.scope, call.record.locked_until
    digest = b"\x03" * 32 if holder == "another_request" else call.record.request_hash
    holding = Record(scope, digest, State.IN_FLIGHT, call.now, locked_until)
    assert await store.claim(holding, now=call.now, expired_before=call.expired_before) is None
    if holder == "completed":
        done = Outcome.succeeded(b"the first answer")
        assert await store.complete(Claim(scope, digest, locked_until), done, call.now)
    held = await store.find(scope)
    with pytest.raises(ClaimLost):
        await shop.confirm(intent, call)
    assert await shop.written(intent.id) == created
    assert await store.find(scope) == held
    assert not call.claimed and not call.claiming and call.answer is None


async def test_an_intent_moved_before_phase_1_takes_the_locked_path_with_the_claim(
    shop: _Shop,
) -> None:
    """The statement wrote nothing, the claim with it; the intent read locked and decided
    on again in a transaction that takes the claim, and the payment goes on."""
    intent = await shop.intent()

    async def update() -> None:
        await shop.another_call(shop.intents.update(shop.key, intent.id, _MOVE))

    shop.vault.between_load_and_phase_1 = update
    call = shop.call()
    paid = await shop.confirm(intent, call)
    assert paid.status is Status.SUCCEEDED
    stored, attempts, history, entries, events = await shop.written(intent.id)
    assert (stored.status, stored.metadata) == (Status.SUCCEEDED, {"o": "1"})
    assert attempts == [AttemptStatus.CAPTURED] and history.count(Status.PROCESSING) == 1
    assert len(entries) == 1 and len(events) == len(set(events))
    if isinstance(shop.uow, SqlUnitOfWorkFactory):  # the fake keeps no keys
        assert call.claimed and call.answer is not None


async def test_a_moved_intent_undoes_phase_1s_statement_then_writes_it_in_a_transaction(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = _shop(uow_factory, await add_merchant(uow_factory, ids))
    intent = await shop.intent()
    passed: list[str] = []

    async def update() -> None:
        await shop.another_call(shop.intents.update(shop.key, intent.id, _MOVE))
        passed.clear()

    shop.vault.between_load_and_phase_1 = update
    monkeypatch.setattr(unit_of_work, "ARMED", True)
    monkeypatch.setattr(unit_of_work, "fail_point", passed.append)
    await shop.confirm(intent, shop.call())
    # The statement's "before" with no "after" (undone); then the transaction's, which
    # claimed the key.
    assert passed[0] == f"sql.commit.before:{_PHASE_1}"
    assert passed[1].startswith("sql.commit.before:") and passed[2] == (
        passed[1].replace("before", "after")
    )
    assert "idempotency_keys" in passed[1] and "payment_attempts" in passed[1]


@pytest.mark.parametrize("point", ["before", "after"])
async def test_a_fault_at_phase_1s_fail_points_leaves_all_of_it_or_nothing(
    uow_factory: SqlUnitOfWorkFactory,
    ids: RandomIds,
    monkeypatch: pytest.MonkeyPatch,
    point: str,
) -> None:
    shop = _shop(uow_factory, await add_merchant(uow_factory, ids))
    intent = await shop.intent()
    created = await shop.written(intent.id)

    def crash(name: str) -> None:
        if name == f"sql.commit.{point}:{_PHASE_1}":
            raise RuntimeError("crashed at phase 1's statement")

    monkeypatch.setattr(unit_of_work, "ARMED", True)
    monkeypatch.setattr(unit_of_work, "fail_point", crash)
    call = shop.call()
    with pytest.raises(RuntimeError, match="phase 1"):
        await shop.confirm(intent, call)
    key = await SqlIdempotencyStore(uow_factory.engine).find(call.record.scope)
    if point == "before":
        assert await shop.written(intent.id) == created and key is None
        return
    stored, attempts, history, entries, events = await shop.written(intent.id)
    assert stored.status is Status.PROCESSING and attempts == [AttemptStatus.PROCESSING]
    assert history[-1] is Status.PROCESSING and entries == []
    assert len(events) > len(created[-1])
    assert key is not None and key.state is State.IN_FLIGHT
