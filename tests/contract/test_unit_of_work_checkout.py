"""A unit of work's connection checkout and return (adapters/sql/checkout.py) keep all
that SQLAlchemy's pool gives (adapters/sql/engine.py): its bound and the error when it
stays exhausted, the ping of a connection that sat idle, recycling, the discarding of a
connection lost mid-use, no connection pooled with a transaction open, pool_stats and
dispose; over a small engine of each test's own, looked at whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql import greenlets
from adapters.sql.engine import PING_AFTER_IDLE_SECONDS, create_engine, pool_stats
from adapters.sql.errors import is_outage
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.payments.model import PaymentIntent
from core.shared.errors import PaygateError, Unavailable
from tests.contract.helpers import add_intent, add_merchant
from tests.contract.test_owned_transaction import _pooled, _pooled_in_transaction


@pytest.fixture
async def engine_of_two(database_url: str) -> AsyncIterator[AsyncEngine]:
    """Two pooled connections and one more when busy."""
    engine = create_engine(database_url, pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def factory(engine_of_two: AsyncEngine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine_of_two)


@pytest.fixture
async def merchant(factory: SqlUnitOfWorkFactory, ids: RandomIds) -> str:
    return await add_merchant(factory, ids)


@pytest.fixture
async def intent(factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str) -> PaymentIntent:
    return await add_intent(factory, ids, merchant)


def _records(engine: AsyncEngine) -> list[Any]:
    """The pool's idle connection records."""
    pool: Any = engine.sync_engine.pool
    return list(pool._pool._queue._queue)


def _pooled_pids(engine: AsyncEngine) -> list[int]:
    return [connection.get_server_pid() for connection in _pooled(engine)]


async def _pid(factory: SqlUnitOfWorkFactory) -> int:
    async with factory() as uow:
        return int((await uow.connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(uow_factory: SqlUnitOfWorkFactory, pid: int) -> None:
    async with uow_factory() as killer:
        await killer.connection.execute(
            text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}
        )


async def test_an_exhausted_pool_makes_the_caller_wait_then_fails_as_unavailable(
    factory: SqlUnitOfWorkFactory, engine_of_two: AsyncEngine
) -> None:
    pool: Any = engine_of_two.sync_engine.pool
    pool._timeout = 0.3  # SQLAlchemy's 30 s, shortened for the test
    async with factory(), factory(), factory():  # two pooled and the one overflow
        assert pool_stats(engine_of_two)["checked_out"] == 3
        with pytest.raises(Unavailable) as raised:
            async with factory():
                pytest.fail("a fourth connection was checked out")
        assert isinstance(raised.value.__cause__, PoolTimeout)
        # A waiter gets the first connection given back.
        gate = asyncio.Event()

        async def waiter() -> int:
            gate.set()
            async with factory() as uow:
                return int((await uow.connection.execute(text("SELECT 7"))).scalar_one())

        pool._timeout = 10
        waiting = asyncio.create_task(waiter())
        await gate.wait()
        await asyncio.sleep(0.05)
        assert not waiting.done()
    assert await waiting == 7
    assert pool_stats(engine_of_two)["checked_out"] == 0


async def test_a_connection_idle_too_long_is_pinged_and_replaced_if_gone(
    factory: SqlUnitOfWorkFactory,
    uow_factory: SqlUnitOfWorkFactory,
    engine_of_two: AsyncEngine,
    intent: PaymentIntent,
) -> None:
    merchant = intent.merchant_id
    await engine_of_two.dispose()
    dead = await _pid(factory)  # the one pooled connection now
    [record] = _records(engine_of_two)
    record.info["idle_since"] -= PING_AFTER_IDLE_SECONDS + 1
    await _terminate(uow_factory, dead)
    await asyncio.sleep(0.2)
    async with factory() as uow:  # a GET: one plain read, on a new connection
        assert await uow.payment_intents.get(merchant, intent.id) == intent
        pid = (await uow.connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    assert pid != dead


async def test_a_connection_past_its_recycle_age_is_replaced(
    factory: SqlUnitOfWorkFactory, engine_of_two: AsyncEngine
) -> None:
    await engine_of_two.dispose()
    old = await _pid(factory)
    [record] = _records(engine_of_two)
    record.starttime -= 1801
    assert await _pid(factory) != old


async def test_a_backend_killed_under_a_plain_read_is_an_outage_and_the_next_unit_works(
    factory: SqlUnitOfWorkFactory, uow_factory: SqlUnitOfWorkFactory, intent: PaymentIntent
) -> None:
    merchant = intent.merchant_id
    with pytest.raises(PaygateError) as raised:
        async with factory() as uow:
            pid = (await uow.connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await _terminate(uow_factory, pid)
            await asyncio.sleep(0.2)
            await uow.payment_intents.get(merchant, intent.id)  # on asyncpg, alone
    assert is_outage(raised.value.__cause__)  # type: ignore[arg-type]
    assert pid not in _pooled_pids(factory.engine)
    for _ in range(3):
        async with factory() as uow:
            assert await uow.payment_intents.get(merchant, intent.id) == intent


async def test_concurrent_units_of_work_beyond_the_pool_all_finish_and_leave_it_clean(
    factory: SqlUnitOfWorkFactory, engine_of_two: AsyncEngine, intent: PaymentIntent
) -> None:
    merchant = intent.merchant_id

    async def one(n: int) -> None:
        async with factory() as uow:
            if n % 3 == 0:
                await uow.payment_intents.get(merchant, intent.id, for_update=True)
                if n % 2 == 0:
                    await uow.commit()
                return  # else rolled back on the way out
            assert await uow.payment_intents.get(merchant, intent.id) == intent

    await asyncio.gather(*(one(n) for n in range(40)))
    stats = pool_stats(engine_of_two)
    assert stats["checked_out"] == 0 and stats["size"] == 2
    assert not any(_pooled_in_transaction(engine_of_two))
    assert len(greenlets._idle.runners) <= greenlets._KEEP


async def test_dispose_closes_the_idle_connections_and_the_pool_serves_on(
    factory: SqlUnitOfWorkFactory, engine_of_two: AsyncEngine
) -> None:
    await _pid(factory)
    [record] = _records(engine_of_two)
    driver = record.dbapi_connection.driver_connection
    await engine_of_two.dispose()
    assert driver.is_closed()
    assert await _pid(factory) != driver.get_server_pid()


async def test_a_connection_a_unit_of_work_used_gives_sqlalchemy_its_transaction_again(
    factory: SqlUnitOfWorkFactory, engine_of_two: AsyncEngine
) -> None:
    await engine_of_two.dispose()
    used = await _pid(factory)  # in autocommit while the unit of work held it
    async with engine_of_two.begin() as connection:  # a worker's job
        assert (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one() == used
        raw = await connection.get_raw_connection()
        assert raw.dbapi_connection is not None
        assert raw.dbapi_connection.driver_connection.is_in_transaction()
    [record] = _records(engine_of_two)
    assert not record.dbapi_connection.autocommit
