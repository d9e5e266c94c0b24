"""IntentChanges: PostgreSQL LISTEN/NOTIFY (the payment_events trigger of 0006_watch) and
the in-memory feed that the memory unit of work publishes to behave alike."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from adapters.memory.intent_changes import MemoryIntentChanges
from adapters.sql.intent_changes import PostgresIntentChanges
from adapters.sql.unit_of_work import SqlUnitOfWork, SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.payments.model import PaymentEvent, PaymentIntent
from core.payments.ports import IntentChanges
from core.unit_of_work import UnitOfWorkFactory
from tests.contract.helpers import add_intent, add_merchant, later
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory

QUIET = 0.3  # seconds without a tick that count as "no tick"
SOON = 5.0  # seconds a tick may take to arrive


@dataclass
class Feed:
    uow: UnitOfWorkFactory
    changes: IntentChanges
    merchant_id: str
    ids: RandomIds

    async def intent(self) -> PaymentIntent:
        return await add_intent(self.uow, self.ids, self.merchant_id)

    async def change(self, *intents: PaymentIntent, commit: bool = True) -> None:
        """One transaction that appends an event to each intent's history."""
        async with self.uow() as uow:
            await uow.payment_events.append(
                [
                    PaymentEvent(i.id, i.merchant_id, i.status, i.status, "key_test", later(1))
                    for i in intents
                ]
            )
            if commit:
                await uow.commit()


Backend = tuple[UnitOfWorkFactory, "MemoryIntentChanges | PostgresIntentChanges"]


@pytest.fixture(params=["memory", "postgres"])
def backend(request: pytest.FixtureRequest, database_url: str) -> Backend:
    if request.param == "memory":
        memory = MemoryUnitOfWorkFactory()
        return memory, memory.store.changes
    factory: UnitOfWorkFactory = request.getfixturevalue("uow_factory")
    return factory, PostgresIntentChanges(database_url)


@pytest.fixture
async def feed(backend: Backend, ids: RandomIds) -> AsyncIterator[Feed]:
    uow, changes = backend
    try:
        yield Feed(uow, changes, await add_merchant(uow, ids), ids)
    finally:
        await changes.aclose()


class Reader:
    """Reads a subscription with time limits. A timed-out wait keeps its pending read
    (cancelling it would close the generator), and the next wait goes on with it."""

    def __init__(self, ticks: AsyncGenerator[None, None]) -> None:
        self.ticks = ticks
        self._pending: asyncio.Future[None] | None = None

    async def ticked(self, within: float = SOON) -> bool:
        """True on a tick within `within` seconds, False when none came; raises
        StopAsyncIteration when the subscription ended."""
        if self._pending is None:
            self._pending = asyncio.ensure_future(anext(self.ticks))
        done, _ = await asyncio.wait({self._pending}, timeout=within)
        if not done:
            return False
        pending, self._pending = self._pending, None
        pending.result()
        return True

    async def aclose(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await self._pending
        await self.ticks.aclose()


@contextlib.asynccontextmanager
async def reading(feed: Feed, intent: PaymentIntent) -> AsyncIterator[Reader]:
    reader = Reader(feed.changes.subscribe(feed.merchant_id, intent.id))
    try:
        yield reader
    finally:
        await reader.aclose()


async def test_the_first_tick_comes_at_once(feed: Feed) -> None:
    intent = await feed.intent()
    async with reading(feed, intent) as ticks:
        assert await ticks.ticked()
        assert not await ticks.ticked(QUIET)


async def test_a_committed_change_ticks(feed: Feed) -> None:
    intent = await feed.intent()
    async with reading(feed, intent) as ticks:
        assert await ticks.ticked()
        await feed.change(intent)
        assert await ticks.ticked()
        assert not await ticks.ticked(QUIET)
        await feed.change(intent)
        assert await ticks.ticked()


async def test_a_rolled_back_change_does_not_tick(feed: Feed) -> None:
    intent = await feed.intent()
    async with reading(feed, intent) as ticks:
        assert await ticks.ticked()
        await feed.change(intent, commit=False)
        assert not await ticks.ticked(QUIET)


async def test_another_intents_change_does_not_tick(feed: Feed) -> None:
    watched, other = await feed.intent(), await feed.intent()
    async with reading(feed, watched) as ticks:
        assert await ticks.ticked()
        await feed.change(other)
        assert not await ticks.ticked(QUIET)
        await feed.change(other, watched)  # one transaction about both
        assert await ticks.ticked()


async def test_every_subscriber_of_the_intent_is_told(feed: Feed) -> None:
    intent = await feed.intent()
    async with reading(feed, intent) as first, reading(feed, intent) as second:
        assert await first.ticked() and await second.ticked()
        await feed.change(intent)
        assert await first.ticked()
        assert await second.ticked()


async def test_changes_made_while_the_reader_is_away_are_not_lost(feed: Feed) -> None:
    intent = await feed.intent()
    async with reading(feed, intent) as ticks:
        assert await ticks.ticked()
        for _ in range(3):
            await feed.change(intent)
        assert await ticks.ticked()  # at least one tick; several may be folded into one


async def test_closing_a_subscription_stops_listening_for_it(feed: Feed) -> None:
    intent = await feed.intent()
    ticks = feed.changes.subscribe(feed.merchant_id, intent.id)
    await anext(ticks)
    assert feed.changes.subscribers == 1  # type: ignore[attr-defined]
    await ticks.aclose()
    assert feed.changes.subscribers == 0  # type: ignore[attr-defined]
    await feed.change(intent)  # nobody to tell: no error


async def test_closing_the_feed_ends_every_subscription(feed: Feed) -> None:
    intent = await feed.intent()
    ticks = feed.changes.subscribe(feed.merchant_id, intent.id)
    await anext(ticks)
    await feed.changes.aclose()  # type: ignore[attr-defined]
    with pytest.raises(StopAsyncIteration):
        await Reader(ticks).ticked()
    late = feed.changes.subscribe(feed.merchant_id, intent.id)
    with pytest.raises(StopAsyncIteration):
        await anext(late)


# --- PostgreSQL only -------------------------------------------------------------------


async def _listener_pid(changes: PostgresIntentChanges) -> int:
    pid = changes._listener.server_pid
    assert pid is not None
    return pid


async def test_a_lost_connection_ends_the_subscriptions_and_the_next_one_reconnects(
    uow_factory: SqlUnitOfWorkFactory, database_url: str, ids: RandomIds
) -> None:
    merchant = await add_merchant(uow_factory, ids)
    intent = await add_intent(uow_factory, ids, merchant)
    changes = PostgresIntentChanges(database_url)
    try:
        ticks = changes.subscribe(merchant, intent.id)
        await anext(ticks)
        pid = await _listener_pid(changes)
        async with uow_factory() as uow:
            assert isinstance(uow, SqlUnitOfWork)
            await uow.connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(StopAsyncIteration):
            await Reader(ticks).ticked()
        assert not changes.listening

        again = changes.subscribe(merchant, intent.id)
        await anext(again)
        assert changes.listening and await _listener_pid(changes) != pid
        async with uow_factory() as uow:
            await uow.payment_events.append(
                [PaymentEvent(intent.id, merchant, intent.status, intent.status, "k", later(2))]
            )
            await uow.commit()
        reader = Reader(again)
        assert await reader.ticked()
        await reader.aclose()
    finally:
        await changes.aclose()


async def test_a_database_that_cannot_be_reached_is_unavailable(database_url: str) -> None:
    from sqlalchemy.engine import make_url

    from core.shared.errors import Unavailable

    unreachable = make_url(database_url).set(host="127.0.0.1", port=1, query={})
    changes = PostgresIntentChanges(
        unreachable.render_as_string(hide_password=False), connect_timeout=1
    )
    try:
        with pytest.raises(Unavailable):
            await anext(changes.subscribe("acct_x", "pi_x"))
    finally:
        await changes.aclose()


async def test_one_insert_of_many_events_notifies_each_intent_once(
    uow_factory: SqlUnitOfWorkFactory, database_url: str, ids: RandomIds
) -> None:
    """The trigger is per statement: a batch (the expiry job) is one notification per
    intent, not one per row."""
    import asyncpg

    from adapters.sql.engine import asyncpg_url

    merchant = await add_merchant(uow_factory, ids)
    first, second = [await add_intent(uow_factory, ids, merchant) for _ in range(2)]
    received: list[str] = []
    dsn = asyncpg_url(database_url).set(drivername="postgresql")
    listener = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        await listener.add_listener(
            "payment_intent_changed", lambda *args: received.append(args[-1])
        )
        async with uow_factory() as uow:
            events = [
                PaymentEvent(i.id, merchant, i.status, i.status, "k", later(n))
                for n in range(3)
                for i in (first, second)
            ]
            await uow.payment_events.append(events)
            await uow.commit()
        for _ in range(100):
            if len(received) >= 2:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(QUIET)
        assert sorted(received) == sorted([first.id, second.id])
    finally:
        await listener.close()
