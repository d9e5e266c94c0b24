"""A create (PaymentIntents.create with the outbox) on PostgreSQL and the fake: the intent,
its history line, its event and one delivery per subscribed endpoint are written together
or not at all.

On PostgreSQL the intent's write is held back until the commit (adapters/sql/held.py),
the outbox's event joins it, and the commit sends the two as one statement alone: one
round trip, where BEGIN, two statements and COMMIT were four. When more endpoints are
subscribed than delivery ids were made ahead, that statement writes nothing and the
create is written as before, in a transaction.

Round trips are counted as asyncpg's writes to the server's socket
(tests/contract/round_trips.py), on a warm connection: deterministic, whatever the load.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from secrets import token_hex
from typing import Any

import pytest

from adapters.sql import unit_of_work
from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.access.model import Principal
from core.access.roles import Role
from core.account.profile_cache import ProfileCache
from core.events.outbox import EventOutbox, PaymentOutbox
from core.idempotency.call import DeferredClaim, current
from core.idempotency.model import Record, Scope, State
from core.payments.use_cases import CreatePaymentIntent, PaymentIntents
from core.shared.errors import AlreadyExists
from core.unit_of_work import UnitOfWorkFactory
from tests.contract.helpers import add_merchant, new_intent
from tests.contract.round_trips import CountedPool
from tests.contract.test_events_contract import endpoint
from tests.fakes import FixedClock

CREATE = CreatePaymentIntent(amount=2500, currency="usd")
_LATER = datetime(2100, 1, 1, tzinfo=UTC)


class _Rendered:
    def __init__(self) -> None:
        self.fail = False

    def render(self, obj: object) -> Mapping[str, Any]:
        if self.fail:
            raise RuntimeError("the renderer failed between the two writes")
        return {"id": getattr(obj, "id", ""), "object": "payment_intent"}


class _SameIds(RandomIds):
    """Gives the next intent the id it is told to (a duplicate)."""

    def __init__(self) -> None:
        super().__init__()
        self.next_intent = ""

    def new(self, prefix: str) -> str:
        if prefix == "pi" and self.next_intent:
            return self.next_intent
        return super().new(prefix)


def _caller(merchant_id: str) -> Principal:
    return Principal(merchant_id, False, "key_contract", Role.DEVELOPER)


def _use_case(factory: UnitOfWorkFactory, ids: RandomIds, renderer: _Rendered) -> PaymentIntents:
    # Its deliveries fall due long after any other test's clock: on the shared database
    # they must not crowd another test's claim (test_events_contract.py).
    clock = FixedClock(_LATER)
    books = PaymentOutbox(EventOutbox(ids, renderer))
    return PaymentIntents(factory, ids, clock, books=books, profiles=ProfileCache(clock))


async def _written(factory: UnitOfWorkFactory, merchant_id: str, intent_id: str) -> Any:
    """The intent, its history lines, the merchant's events and their deliveries."""
    async with factory() as uow:
        intent = await uow.payment_intents.get(merchant_id, intent_id)
        lines = await uow.payment_events.for_intent(merchant_id, intent_id)
        events = await uow.events.list(merchant_id, False, limit=10)
        deliveries = [
            d
            for e in events
            for d in await uow.webhook_deliveries.list(merchant_id, event_id=e.id, limit=100)
        ]
    return intent, lines, events, deliveries


@pytest.mark.parametrize("subscribed", [0, 1, 3, 4, 7])
async def test_a_create_writes_its_intent_line_event_and_every_delivery(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str, subscribed: int
) -> None:
    """3 endpoints fit the delivery ids made ahead; 4 and 7 are written as before."""
    endpoints = [endpoint(ids, merchant_id) for _ in range(subscribed)]
    endpoints.append(endpoint(ids, merchant_id, "refund.created"))  # not subscribed
    async with any_uow_factory() as uow:
        for ep in endpoints:
            await uow.webhook_endpoints.add(ep)
        await uow.commit()
    created = await _use_case(any_uow_factory, ids, _Rendered()).create(
        _caller(merchant_id), CREATE
    )

    intent, lines, events, deliveries = await _written(any_uow_factory, merchant_id, created.id)
    assert intent == created
    assert [(line.from_status, line.to_status) for line in lines] == [(None, created.status)]
    assert [(e.type, e.data["id"]) for e in events] == [("payment_intent.created", created.id)]
    assert sorted(d.endpoint_id for d in deliveries) == sorted(
        ep.id for ep in endpoints[:subscribed]
    )
    assert len({d.id for d in deliveries}) == subscribed


async def test_a_fault_between_the_two_writes_leaves_nothing(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    renderer = _Rendered()
    renderer.fail = True
    async with any_uow_factory() as uow:
        await uow.webhook_endpoints.add(endpoint(ids, merchant_id))
        await uow.commit()
    with pytest.raises(RuntimeError, match="between the two writes"):
        await _use_case(any_uow_factory, ids, renderer).create(_caller(merchant_id), CREATE)
    async with any_uow_factory() as uow:
        assert list(await uow.payment_intents.list(merchant_id, limit=10)) == []
        assert list(await uow.events.list(merchant_id, False, limit=10)) == []


async def test_a_duplicate_intent_is_refused_and_writes_no_event(
    any_uow_factory: UnitOfWorkFactory, merchant_id: str
) -> None:
    ids = _SameIds()
    async with any_uow_factory() as uow:
        await uow.webhook_endpoints.add(endpoint(ids, merchant_id))
        await uow.commit()
    use_case = _use_case(any_uow_factory, ids, _Rendered())
    first = await use_case.create(_caller(merchant_id), CREATE)
    ids.next_intent = first.id
    with pytest.raises(AlreadyExists):
        await use_case.create(_caller(merchant_id), CREATE)
    intent, lines, events, deliveries = await _written(any_uow_factory, merchant_id, first.id)
    assert intent == first and len(lines) == 1
    assert len(events) == 1 and len(deliveries) == 1


# --- PostgreSQL: round trips and fail points --------------------------------------------


@pytest.fixture
async def pool(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[CountedPool]:
    engine = create_engine(database_url, pool_size=1)
    pool = CountedPool(engine)
    await pool.count_writes(monkeypatch)
    try:
        yield pool
    finally:
        await engine.dispose()


def _with_key(merchant_id: str) -> DeferredClaim:
    """The running call's Idempotency-Key, claimed and answered in its transaction."""
    clock = FixedClock()
    now = clock.now()
    scope = Scope(merchant_id, "/paygate.v1.PaymentIntentService/CreatePaymentIntent", token_hex(8))
    record = Record(scope, b"\x01" * 32, State.IN_FLIGHT, now, now + timedelta(seconds=60))
    return DeferredClaim(record, now, now - timedelta(days=1), clock, render=lambda _: b"ok")


async def _round_trips(pool: CountedPool, subscribed: int, *, keyed: bool = False) -> int:
    """The round trips of a create on a warm connection, for a merchant with
    `subscribed` endpoints, with an Idempotency-Key riding on its transaction or not."""
    factory = SqlUnitOfWorkFactory(pool.engine)
    ids = RandomIds()
    merchant_id = await add_merchant(factory, ids)
    async with factory() as uow:
        for _ in range(subscribed):
            await uow.webhook_endpoints.add(endpoint(ids, merchant_id))
        await uow.commit()
    use_case = _use_case(factory, ids, _Rendered())
    for _ in range(3):  # the profile read, each statement prepared once per connection
        await _create(use_case, merchant_id, keyed)
    before = pool.writes
    await _create(use_case, merchant_id, keyed)
    return pool.writes - before


async def _create(use_case: PaymentIntents, merchant_id: str, keyed: bool) -> None:
    call = _with_key(merchant_id) if keyed else None
    token = current.set(call)
    try:
        await use_case.create(_caller(merchant_id), CREATE)
    finally:
        current.reset(token)
    if call is not None:
        assert call.claimed and call.answer is not None  # claimed and answered in it


async def test_a_create_is_one_round_trip(pool: CountedPool) -> None:
    # Sent as they came: BEGIN, the intent's statement, the event's, COMMIT.
    assert await _round_trips(pool, 1) == 1


async def test_a_create_with_an_idempotency_key_is_one_transaction_with_its_claim(
    pool: CountedPool,
) -> None:
    # BEGIN, the key's claim, the create's statement, the key's answer, COMMIT (the
    # intent's and the event's statements were two).
    assert await _round_trips(pool, 1, keyed=True) == 5


async def test_a_create_with_more_endpoints_than_ids_made_ahead_is_written_as_before(
    pool: CountedPool,
) -> None:
    # The statement that wrote nothing, then BEGIN, the intent's statement, the event's,
    # the deliveries left over, COMMIT.
    assert await _round_trips(pool, 4) == 6


async def test_the_create_statement_names_its_four_tables_at_its_fail_points(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash armed on any table the create writes still fires around the statement
    that commits alone (adapters/failpoints.py)."""
    merchant_id = await add_merchant(uow_factory, ids)
    passed: list[str] = []
    monkeypatch.setattr(unit_of_work, "ARMED", True)
    monkeypatch.setattr(unit_of_work, "fail_point", passed.append)
    await _use_case(uow_factory, ids, _Rendered()).create(_caller(merchant_id), CREATE)
    phase = "events+payment_events+payment_intents+webhook_deliveries"
    assert passed == [f"sql.commit.before:{phase}", f"sql.commit.after:{phase}"]


async def test_a_read_after_the_held_write_sees_it_in_one_transaction(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds
) -> None:
    """Holding changes when the write is sent, never what a later statement sees; left
    without commit, nothing is written."""
    merchant_id = await add_merchant(uow_factory, ids)
    intent = new_intent(ids, merchant_id)
    async with uow_factory() as uow:
        await uow.payment_intents.add(intent, intent.pull_events())
        assert uow.connection.begun is False  # held
        assert await uow.payment_intents.get(merchant_id, intent.id) is not None
        assert uow.connection.begun is True
    async with uow_factory() as uow:
        assert await uow.payment_intents.get(merchant_id, intent.id) is None
