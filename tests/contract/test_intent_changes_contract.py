"""IntentChanges: PostgreSQL LISTEN/NOTIFY (the payment_events trigger of 0006_watch,
since 0021_watched_intents only for watched intents) and the in-memory feed that the
memory unit of work publishes to behave alike. PostgreSQL only: an unwatched intent's
change sends no NOTIFY, the race between a writer and a registration in both orders,
unregistering and reaping."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from dataclasses import dataclass

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.intent_changes import MemoryIntentChanges
from adapters.sql.engine import asyncpg_url
from adapters.sql.intent_changes import (
    REGISTER,
    WATCH_LOCK,
    PostgresIntentChanges,
    reap_watchers,
)
from adapters.sql.tables import INTENT_CHANGED_CHANNEL
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


class RawListener:
    """A connection of its own that LISTENs on the channel, and what it received. The
    intents it registers are watched by it (its pid is the row's watcher)."""

    def __init__(self, connection: asyncpg.Connection, dsn: str) -> None:
        self.connection = connection
        self.dsn = dsn
        self.received: list[str] = []

    async def register(self, intent_id: str) -> None:
        await self.connection.execute(REGISTER, intent_id)

    async def told_after(self, write: Awaitable[object]) -> list[str]:
        """What arrived on the channel after `write`, up to a marker that another
        connection sends afterwards: notifications come in commit order, so anything the
        write's commit sent has arrived once the marker has."""
        self.received.clear()
        await write
        marker = f"marker-{uuid.uuid4()}"
        other = await asyncpg.connect(self.dsn)
        try:
            await other.execute("SELECT pg_notify($1, $2)", INTENT_CHANGED_CHANNEL, marker)
        finally:
            await other.close()
        async with asyncio.timeout(SOON):
            while marker not in self.received:
                await self.connection.fetchval("SELECT 1")  # reads what has arrived
        return self.received[: self.received.index(marker)]


@pytest.fixture
async def raw(database_url: str) -> AsyncIterator[RawListener]:
    dsn = asyncpg_url(database_url).set(drivername="postgresql")
    rendered = dsn.render_as_string(hide_password=False)
    connection = await asyncpg.connect(rendered)
    listener = RawListener(connection, rendered)
    await connection.add_listener(
        INTENT_CHANGED_CHANNEL, lambda *args: listener.received.append(args[-1])
    )
    try:
        yield listener
    finally:
        await connection.close()


async def _append(
    uow_factory: SqlUnitOfWorkFactory, merchant: str, *intents: PaymentIntent, rows: int = 1
) -> None:
    async with uow_factory() as uow:
        await uow.payment_events.append(
            [
                PaymentEvent(i.id, merchant, i.status, i.status, "k", later(n))
                for n in range(rows)
                for i in intents
            ]
        )
        await uow.commit()


async def test_one_insert_of_many_events_notifies_each_intent_once(
    uow_factory: SqlUnitOfWorkFactory, raw: RawListener, ids: RandomIds
) -> None:
    """The trigger is per statement: a batch (the expiry job) is one notification per
    watched intent, not one per row."""
    merchant = await add_merchant(uow_factory, ids)
    first, second = [await add_intent(uow_factory, ids, merchant) for _ in range(2)]
    await raw.register(first.id)
    await raw.register(second.id)
    told = await raw.told_after(_append(uow_factory, merchant, first, second, rows=3))
    assert sorted(told) == sorted([first.id, second.id])


async def test_a_change_of_an_unwatched_intent_notifies_nobody(
    uow_factory: SqlUnitOfWorkFactory, raw: RawListener, ids: RandomIds
) -> None:
    merchant = await add_merchant(uow_factory, ids)
    watched, unwatched = [await add_intent(uow_factory, ids, merchant) for _ in range(2)]
    assert await raw.told_after(_append(uow_factory, merchant, watched)) == []
    await raw.register(watched.id)
    assert await raw.told_after(_append(uow_factory, merchant, unwatched)) == []
    assert await raw.told_after(_append(uow_factory, merchant, watched)) == [watched.id]
    # One statement about both: only the watched one.
    told = await raw.told_after(_append(uow_factory, merchant, unwatched, watched))
    assert told == [watched.id]


async def test_a_writer_that_is_not_read_committed_notifies_every_intent(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory, raw: RawListener, ids: RandomIds
) -> None:
    """Its one snapshot could not see a registration made while it waited: it tells all."""
    merchant = await add_merchant(uow_factory, ids)
    intent = await add_intent(uow_factory, ids, merchant)

    async def write() -> None:
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="REPEATABLE READ")
            async with connection.begin():
                await connection.execute(_INSERT_EVENT, {"id": intent.id, "merchant": merchant})

    assert await raw.told_after(write()) == [intent.id]


_INSERT_EVENT = text(
    "INSERT INTO payment_events (payment_intent_id, merchant_id, from_status, to_status,"
    " actor, occurred_at) VALUES (:id, :merchant, 'REQUIRES_PAYMENT_METHOD',"
    " 'REQUIRES_PAYMENT_METHOD', 'k', now())"
)


async def _blocked(engine: AsyncEngine, pid: int) -> bool:
    async with engine.connect() as observer:
        for _ in range(500):
            found = await observer.execute(text("SELECT pg_blocking_pids(:pid)"), {"pid": pid})
            if found.scalar_one():
                return True
            await asyncio.sleep(0.01)
    return False


async def test_a_registration_first_makes_the_writer_wait_and_notify(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory, raw: RawListener, ids: RandomIds
) -> None:
    """The registration holds the intent's lock: the writer's trigger waits for it, then
    (a new snapshot) sees the row and notifies."""
    merchant = await add_merchant(uow_factory, ids)
    intent = await add_intent(uow_factory, ids, merchant)
    writer: asyncio.Task[None] | None = None

    async def race() -> None:
        nonlocal writer
        async with engine.connect() as connection:
            pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await connection.commit()
            async with raw.connection.transaction():
                await raw.register(intent.id)  # the lock is held until this commits

                async def write() -> None:
                    async with connection.begin():
                        await connection.execute(
                            _INSERT_EVENT, {"id": intent.id, "merchant": merchant}
                        )

                writer = asyncio.ensure_future(write())
                assert await _blocked(engine, pid)  # in the trigger, on the intent's lock
            await writer

    assert await raw.told_after(race()) == [intent.id]


async def test_a_writer_first_makes_the_registration_wait_and_the_read_see_it(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory, raw: RawListener, ids: RandomIds
) -> None:
    """The writer's trigger holds the intent's lock (shared) and saw no row: it notifies
    nobody, but the registration returns only after its commit, so the watcher's read,
    which follows, sees the change."""
    merchant = await add_merchant(uow_factory, ids)
    intent = await add_intent(uow_factory, ids, merchant)
    events = text("SELECT count(*) FROM payment_events WHERE payment_intent_id = :id")

    async def race() -> int:
        async with engine.connect() as connection:
            before = (await connection.execute(events, {"id": intent.id})).scalar_one()
            await connection.commit()
            async with connection.begin():
                await connection.execute(_INSERT_EVENT, {"id": intent.id, "merchant": merchant})
                registration = asyncio.ensure_future(raw.register(intent.id))
                assert await _blocked(engine, raw.connection.get_server_pid())
                assert not registration.done()
            await registration
        async with engine.connect() as reader:  # the watcher's first read
            seen: int = (await reader.execute(events, {"id": intent.id})).scalar_one()
        assert seen == before + 1
        return seen

    assert await raw.told_after(race()) == []  # told nobody, and needed not
    assert await raw.told_after(_append(uow_factory, merchant, intent)) == [intent.id]


async def _rows_of(engine: AsyncEngine, intent_id: str) -> list[int]:
    async with engine.connect() as connection:
        found = await connection.execute(
            text("SELECT watcher FROM watched_intents WHERE intent_id = :id"), {"id": intent_id}
        )
        return list(found.scalars())


async def test_the_last_subscription_of_an_intent_unregisters_it(
    engine: AsyncEngine,
    uow_factory: SqlUnitOfWorkFactory,
    database_url: str,
    raw: RawListener,
    ids: RandomIds,
) -> None:
    merchant = await add_merchant(uow_factory, ids)
    intent = await add_intent(uow_factory, ids, merchant)
    changes = PostgresIntentChanges(database_url)
    try:
        first = changes.subscribe(merchant, intent.id)
        await anext(first)
        pid = await _listener_pid(changes)
        assert await _rows_of(engine, intent.id) == [pid]
        second = changes.subscribe(merchant, intent.id)
        await anext(second)
        assert await _rows_of(engine, intent.id) == [pid]  # one row per process
        await first.aclose()
        assert await _rows_of(engine, intent.id) == [pid]  # still watched
        await second.aclose()
        assert await _rows_of(engine, intent.id) == []
        assert await raw.told_after(_append(uow_factory, merchant, intent)) == []
        third = changes.subscribe(merchant, intent.id)  # and watched again
        await anext(third)
        assert await _rows_of(engine, intent.id) == [pid]
        await third.aclose()
    finally:
        await changes.aclose()


async def test_rows_of_watchers_gone_are_reaped(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory, database_url: str, ids: RandomIds
) -> None:
    merchant = await add_merchant(uow_factory, ids)
    gone, reused, live = [await add_intent(uow_factory, ids, merchant) for _ in range(3)]
    async with engine.begin() as connection:
        pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        await connection.execute(
            text(
                "INSERT INTO watched_intents VALUES (:gone, 0, now()),"
                # the pid of a backend that started after the row: another one's pid, reused
                " (:reused, :pid, now() - interval '1 day'), (:live, :pid, now())"
            ),
            {"gone": gone.id, "reused": reused.id, "live": live.id, "pid": pid},
        )
    assert await reap_watchers(engine) == 2
    assert await _rows_of(engine, live.id) == [pid]
    assert await _rows_of(engine, gone.id) == await _rows_of(engine, reused.id) == []

    # A listener reaps when it connects.
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO watched_intents VALUES (:gone, 0, now())"), {"gone": gone.id}
        )
    changes = PostgresIntentChanges(database_url)
    try:
        ticks = changes.subscribe(merchant, live.id)
        await anext(ticks)
        assert await _rows_of(engine, gone.id) == []
        await ticks.aclose()
    finally:
        await changes.aclose()
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM watched_intents"))


async def test_the_worker_reaps_the_watchers_gone(engine: AsyncEngine) -> None:
    from types import SimpleNamespace

    from servers.roles.worker.jobs import watch_jobs

    assert watch_jobs(SimpleNamespace(engine=None)) == []  # type: ignore[arg-type]
    [job] = watch_jobs(SimpleNamespace(engine=engine))  # type: ignore[arg-type]
    assert job.name == "payments.reap_watchers" and job.every <= 60
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO watched_intents VALUES ('pi_gone', 0, now())"))
    assert await job.run(later(0), job.batch) == 1
    assert await _rows_of(engine, "pi_gone") == []


async def test_a_watch_cancelled_while_it_registers_leaves_the_connection_usable(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory, database_url: str, ids: RandomIds
) -> None:
    """The registration waits on a writer's lock; the client goes away meanwhile. The
    statement ends by itself (shielded), so the listening connection is neither broken
    nor left mid-statement: the process's other watches go on."""
    merchant = await add_merchant(uow_factory, ids)
    busy, other = [await add_intent(uow_factory, ids, merchant) for _ in range(2)]
    changes = PostgresIntentChanges(database_url)
    try:
        watching = changes.subscribe(merchant, other.id)
        await anext(watching)
        pid = await _listener_pid(changes)
        async with engine.connect() as writer:
            await writer.execute(
                text("SELECT pg_advisory_xact_lock_shared(:a, hashtext(:id))"),
                {"a": WATCH_LOCK, "id": busy.id},
            )  # as a writer's trigger holds it until its commit
            cancelled = asyncio.ensure_future(anext(changes.subscribe(merchant, busy.id)))
            assert await _blocked(engine, pid)
            cancelled.cancel()
            with pytest.raises(asyncio.CancelledError):
                await cancelled
            await writer.rollback()
        reader = Reader(watching)
        await _append(uow_factory, merchant, other)
        assert await reader.ticked()
        assert changes.listening and await _listener_pid(changes) == pid
        again = changes.subscribe(merchant, busy.id)
        await anext(again)
        assert await _rows_of(engine, busy.id) == [pid]
        await again.aclose()
        await reader.aclose()
    finally:
        await changes.aclose()
