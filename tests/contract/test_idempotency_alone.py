"""The PostgreSQL idempotency store runs each operation as one statement, alone, in
autocommit on asyncpg (adapters/sql/idempotency.py): one round trip each, where BEGIN,
statement and COMMIT were three. A statement cut off (cancelled, timed out, its server
connection ended) never leaves its connection in the pool, and an outage is UNAVAILABLE.
Round trips are counted by tests/contract/round_trips.py.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from adapters.sql.engine import create_engine
from adapters.sql.idempotency import SqlIdempotencyStore
from core.idempotency.model import Claim, Outcome, Record, Scope, State
from core.shared.errors import Unavailable
from tests.contract.round_trips import CountedPool

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
EXPIRED_BEFORE = NOW - timedelta(hours=24)
METHOD = "/paygate.v1.RefundService/CreateRefund"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[CountedPool]:
    engine = create_engine(database_url, pool_size=1, command_timeout=2.0)
    try:
        yield CountedPool(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def store(pool: CountedPool, monkeypatch: pytest.MonkeyPatch) -> SqlIdempotencyStore:
    """The store on the pool, every statement of it run once already (each is prepared
    once per connection: the counts below are of a warm connection), and the writes of
    the pool's connections counted from then on."""
    store = SqlIdempotencyStore(pool.engine)
    scope = a_scope()
    record = in_flight(scope)
    await store.claim(record, now=NOW, expired_before=EXPIRED_BEFORE)
    await store.claim(record, now=NOW, expired_before=EXPIRED_BEFORE)  # lost: the read too
    await store.find(scope)
    await store.complete(claim_of(record), Outcome.succeeded(b"ok"), NOW)
    await store.release(claim_of(record))
    await store.reap(EXPIRED_BEFORE - timedelta(days=365), 1)
    await pool.count_writes(monkeypatch)
    return store


def in_flight(scope: Scope, request_hash: bytes = b"\x01" * 32) -> Record:
    return Record(
        scope=scope,
        request_hash=request_hash,
        state=State.IN_FLIGHT,
        created_at=NOW,
        locked_until=NOW + timedelta(seconds=60),
    )


def claim_of(record: Record) -> Claim:
    return Claim(record.scope, record.request_hash, record.locked_until)


def a_scope() -> Scope:
    return Scope(merchant_id=f"acct_{secrets.token_hex(8)}", method=METHOD, key="k")


async def test_each_operation_is_one_round_trip(
    store: SqlIdempotencyStore, pool: CountedPool
) -> None:
    record = in_flight(a_scope())
    sent = []
    for operation in (
        store.claim(record, now=NOW, expired_before=EXPIRED_BEFORE),
        store.find(record.scope),
        store.complete(claim_of(record), Outcome.succeeded(b"answer"), NOW),
        store.release(claim_of(in_flight(a_scope()))),
        store.reap(EXPIRED_BEFORE - timedelta(days=365), 10),
    ):
        before = pool.writes
        await operation
        sent.append(pool.writes - before)
    # Through SQLAlchemy's transaction: 3, 1, 3, 3, 3 (BEGIN, the statement, COMMIT).
    assert sent == [1, 1, 1, 1, 1]
    assert pool.invalidated == 0


async def test_a_claim_that_lost_reads_the_holder_in_a_second_round_trip(
    store: SqlIdempotencyStore, pool: CountedPool
) -> None:
    first = in_flight(a_scope())
    assert await store.claim(first, now=NOW, expired_before=EXPIRED_BEFORE) is None
    before = pool.writes
    held = await store.claim(
        in_flight(first.scope, b"\x02" * 32), now=NOW, expired_before=EXPIRED_BEFORE
    )
    assert held == first
    assert pool.writes - before == 2  # was 4: BEGIN, INSERT, SELECT, COMMIT


@pytest.fixture
async def locker(database_url: str) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Connection]]:
    """Two plain connections: one to hold a key's row locked, one to watch the server."""
    url = database_url.replace("postgresql+asyncpg://", "postgresql://")
    holder, watcher = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        yield holder, watcher
    finally:
        await holder.close()
        await watcher.close()


async def blocked(
    store: SqlIdempotencyStore, locker: tuple[asyncpg.Connection, asyncpg.Connection]
) -> tuple[asyncio.Task[bool], Record, int]:
    """A completion running, waiting on the key's row, which `locker` holds locked in an
    open transaction; with its server process's pid."""
    holder, watcher = locker
    record = in_flight(a_scope())
    assert await store.claim(record, now=NOW, expired_before=EXPIRED_BEFORE) is None
    await holder.execute("BEGIN")
    await holder.execute(
        "SELECT 1 FROM idempotency_keys WHERE merchant_id = $1 FOR UPDATE",
        record.scope.merchant_id,
    )
    completing = asyncio.create_task(
        store.complete(claim_of(record), Outcome.succeeded(b"late"), NOW)
    )
    for _ in range(500):
        pid = await watcher.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE 'UPDATE idempotency_keys%' AND query LIKE '%status%'"
            " AND application_name = 'paygate'"
        )
        if pid is not None:
            return completing, record, int(pid)
        await asyncio.sleep(0.01)
    raise AssertionError("the completion never waited on the row")


async def test_a_cancelled_statement_never_leaves_its_connection_in_the_pool(
    store: SqlIdempotencyStore,
    pool: CountedPool,
    locker: tuple[asyncpg.Connection, asyncpg.Connection],
) -> None:
    completing, record, _ = await blocked(store, locker)
    completing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await completing
    assert (pool.invalidated, pool.checked_out) == (1, 0)
    # The pool's one connection is a new one: asyncpg would refuse the old one's next
    # statement ("another operation is in progress").
    found = await store.find(record.scope)
    assert found is not None and found.state is State.IN_FLIGHT  # the row is still locked
    await locker[0].execute("ROLLBACK")


@pytest.mark.parametrize("cut", ["timed out", "its server connection ended"])
async def test_a_statement_cut_off_is_unavailable_and_its_connection_discarded(
    store: SqlIdempotencyStore,
    pool: CountedPool,
    locker: tuple[asyncpg.Connection, asyncpg.Connection],
    cut: str,
) -> None:
    completing, record, pid = await blocked(store, locker)  # command_timeout: 2 s
    if cut == "its server connection ended":
        await locker[1].execute("SELECT pg_terminate_backend($1)", pid)
    with pytest.raises(Unavailable):
        await completing
    assert (pool.invalidated, pool.checked_out) == (1, 0)
    await locker[0].execute("ROLLBACK")
    assert await store.find(record.scope) is not None  # on a new connection


async def test_a_cancellation_from_the_driver_is_unavailable(
    store: SqlIdempotencyStore, pool: CountedPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg may end a statement's wait with a CancelledError of its own (its
    connection aborted under it) while the calling task is not being cancelled."""
    record = in_flight(a_scope())

    async def cut_off(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise asyncio.CancelledError()

    with monkeypatch.context() as patch:
        patch.setattr(asyncpg.connection.Connection, "execute", cut_off)
        with pytest.raises(Unavailable):
            await store.release(claim_of(record))
    assert (pool.invalidated, pool.checked_out) == (1, 0)
    assert await store.release(claim_of(record)) is False


async def test_a_claim_whose_holder_went_before_the_read_claims_in_a_transaction(
    store: SqlIdempotencyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = in_flight(a_scope())
    assert await store.claim(first, now=NOW, expired_before=EXPIRED_BEFORE) is None
    find = store.find

    async def released_meanwhile(scope: Scope) -> Record | None:
        await store.release(claim_of(first))
        return await find(scope)

    monkeypatch.setattr(store, "find", released_meanwhile)
    second = in_flight(first.scope, b"\x02" * 32)
    assert await store.claim(second, now=NOW, expired_before=EXPIRED_BEFORE) is None
    assert await find(first.scope) == second


async def test_a_claim_whose_read_missed_the_holder_reads_it_under_the_claims_lock(
    store: SqlIdempotencyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = in_flight(a_scope())
    assert await store.claim(first, now=NOW, expired_before=EXPIRED_BEFORE) is None

    async def missed(scope: Scope) -> Record | None:
        return None

    monkeypatch.setattr(store, "find", missed)
    second = in_flight(first.scope, b"\x02" * 32)
    assert await store.claim(second, now=NOW, expired_before=EXPIRED_BEFORE) == first
