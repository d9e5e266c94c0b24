"""The unit of work owns its transaction on asyncpg (adapters/sql/unit_of_work.py).

SQLAlchemy's connection stays in autocommit; LazyTransaction sends BEGIN, COMMIT,
ROLLBACK and the savepoints itself, so that a statement run by asyncpg (a statement
built once, adapters/sql/prebuilt.py) and one run by SQLAlchemy are both inside the one
transaction. Proven here under concurrency: what a committed unit of work wrote is seen
by the next, nothing of a rolled-back one is, and no connection goes back to the pool
with a transaction open.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.driver_read import adapter_of
from adapters.sql.errors import is_outage
from adapters.sql.payments.intents import _GET, _GET_FOR_UPDATE, _INSERT, _UPDATE
from adapters.sql.prebuilt import DriverResult
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory, TransactionRolledBack
from adapters.system import RandomIds
from core.payments.model import PaymentIntent
from core.shared.errors import PaygateError
from tests.contract.helpers import add_intent, add_merchant, new_intent
from tests.contract.test_lazy_transaction import _in_transaction

WORKERS = 24
ROUNDS = 6


@pytest.fixture
def factory(uow_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
    """On the session's engine (a pool of 5, 2 more when busy), looked at whole below."""
    return uow_factory


@pytest.fixture
async def merchant(factory: SqlUnitOfWorkFactory, ids: RandomIds) -> str:
    return await add_merchant(factory, ids)


def _pooled(engine: AsyncEngine) -> list[Any]:
    """The asyncpg connections idle in the engine's pool."""
    pool: Any = engine.sync_engine.pool
    records = list(pool._pool._queue._queue)
    return [
        record.dbapi_connection.driver_connection
        for record in records
        if record.dbapi_connection is not None
    ]


def _pooled_in_transaction(engine: AsyncEngine) -> list[bool]:
    """Whether each connection idle in the pool has a transaction open, as asyncpg
    records the server's last answer."""
    return [connection.is_in_transaction() for connection in _pooled(engine)]


async def _idle_in_transaction(factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> int:
    """How many of the pool's idle connections the server sees in a transaction."""
    pids = [connection.get_server_pid() for connection in _pooled(engine)]
    async with factory() as observer:
        return int(
            (
                await observer.connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"
                        " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                    ),
                    {"pids": pids},
                )
            ).scalar_one()
        )


class _Leave(Exception):
    """Raised to leave a unit of work without committing."""


async def test_concurrent_units_of_work_see_every_committed_write_and_nothing_rolled_back(
    factory: SqlUnitOfWorkFactory, engine: AsyncEngine, ids: RandomIds, merchant: str
) -> None:
    shared = await add_intent(factory, ids, merchant, amount=1)
    committed: set[str] = set()
    rolled_back: set[str] = set()
    increments = 0
    seed = random.Random(20261207)
    choices = [[seed.random() for _ in range(3 * ROUNDS)] for _ in range(WORKERS)]

    async def worker(number: int) -> None:
        nonlocal increments
        dice = iter(choices[number])
        for _ in range(ROUNDS):
            # Phase 1: a write (a statement built once, on asyncpg), then commit or not.
            intent = new_intent(ids, merchant)
            keep = next(dice) < 0.6
            try:
                async with factory() as uow:
                    await uow.payment_intents.add(intent)
                    await uow.payment_events.append(intent.pull_events())  # driver SQL
                    await asyncio.sleep(0)
                    if not keep:
                        raise _Leave
                    await uow.commit()
            except _Leave:
                pass
            (committed if keep else rolled_back).add(intent.id)
            # Phase 2: a plain read first (alone), then a locking read (begins), then a
            # locking read of a row every worker locks, a write through SQLAlchemy and
            # one through asyncpg, then commit or roll back.
            bump = next(dice) < 0.5
            try:
                async with factory() as uow:
                    seen = await uow.payment_intents.get(merchant, intent.id)
                    assert (seen is not None) is keep
                    locked = await uow.payment_intents.get(merchant, intent.id, for_update=True)
                    assert (locked is not None) is keep
                    row = await uow.payment_intents.get(merchant, shared.id, for_update=True)
                    assert row is not None
                    await asyncio.sleep(0)
                    await uow.connection.execute(
                        text("UPDATE payment_intents SET amount = amount + 1 WHERE id = :id"),
                        {"id": shared.id},
                    )
                    if locked is not None:
                        locked.description = f"seen by worker {number}"
                        await uow.payment_intents.update(locked)
                    if not bump:
                        raise _Leave
                    await uow.commit()
                    increments += 1
            except _Leave:
                pass
            # Phase 3: the next unit of work sees phase 2's outcome.
            async with factory() as uow:
                after = await uow.payment_intents.get(merchant, intent.id, for_update=True)
                assert (after is not None) is keep
                if after is not None:
                    expected = f"seen by worker {number}" if bump else intent.description
                    assert after.description == expected
                await uow.commit()

    async with asyncio.TaskGroup() as group:  # one failing cancels the others
        for number in range(WORKERS):
            group.create_task(worker(number))

    async with factory() as uow:
        for intent_id in committed:
            assert await uow.payment_intents.get(merchant, intent_id) is not None
        for intent_id in rolled_back:
            assert await uow.payment_intents.get(merchant, intent_id) is None
        total = await uow.payment_intents.get(merchant, shared.id)
    assert committed and rolled_back and 0 < increments < WORKERS * ROUNDS
    assert total is not None and total.amount == 1 + increments
    assert _pooled_in_transaction(engine) and not any(_pooled_in_transaction(engine))
    assert await _idle_in_transaction(factory, engine) == 0


async def test_the_statements_built_once_give_what_sqlalchemy_gives(
    factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    stored = await add_intent(factory, ids, merchant, metadata={"order": "42", "é": "ü"})
    params = {"intent_id": stored.id, "merchant_id": merchant}
    async with factory() as uow:
        driven = await uow.connection.execute(_GET_FOR_UPDATE, params)
        driven = await uow.connection.execute(_GET_FOR_UPDATE, params)  # seen twice
        assert isinstance(driven, DriverResult)
        through_sqlalchemy = (await uow.connection._connection.execute(_GET, params)).mappings()
        assert driven.mappings().all() == [dict(row) for row in through_sqlalchemy]
        assert driven.mappings().one()["metadata"] == {"order": "42", "é": "ü"}
        # A write without RETURNING: its row count; with RETURNING: its value.
        update = text("UPDATE payment_intents SET amount = amount WHERE merchant_id = :m")
        counted = await uow.connection.execute(update, {"m": merchant})
        assert counted.rowcount == 1
        intent = await uow.payment_intents.get(merchant, stored.id, for_update=True)
        assert intent is not None
        for _ in range(2):
            version = intent.version
            await uow.payment_intents.update(intent)
            assert intent.version == version + 1
        await uow.commit()


async def test_a_lost_race_on_a_statement_built_once_is_the_error_sqlalchemy_raises(
    factory: SqlUnitOfWorkFactory, engine: AsyncEngine, ids: RandomIds, merchant: str
) -> None:
    intent = await add_intent(factory, ids, merchant)
    for _ in range(2):  # the second runs on asyncpg
        async with factory() as uow:
            with pytest.raises(PaygateError):  # AlreadyExists, from an IntegrityError
                await uow.payment_intents.add(intent)
            assert uow.connection.in_transaction is True  # failed, still to be ended
    assert _UPDATE is not None and _INSERT is not None
    assert await _idle_in_transaction(factory, engine) == 0


async def test_a_commit_after_an_ignored_error_is_refused_not_silent(
    factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    intent = await add_intent(factory, ids, merchant)
    written = new_intent(ids, merchant)
    async with factory() as uow:
        await uow.payment_intents.add(written)
        with pytest.raises(IntegrityError):
            await uow.connection.execute(_INSERT, {**_row(intent)})
        with pytest.raises(TransactionRolledBack):
            await uow.commit()
        assert uow.connection.in_transaction is False
    async with factory() as uow:
        assert await uow.payment_intents.get(merchant, written.id) is None


def _row(intent: PaymentIntent) -> dict[str, Any]:
    from adapters.sql.payments.intents import _intent_values

    return _intent_values(intent)


async def test_a_savepoint_rolls_back_its_block_only(
    factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    kept, retried = new_intent(ids, merchant), await add_intent(factory, ids, merchant)
    async with factory() as uow:
        await uow.payment_intents.add(kept)
        with pytest.raises(IntegrityError):
            async with uow.connection.begin_nested():
                await uow.connection.execute(_INSERT, _row(retried))
        async with uow.connection.begin_nested():
            kept.description = "after the savepoint"
            await uow.payment_intents.update(kept)
        await uow.commit()
    async with factory() as uow:
        stored = await uow.payment_intents.get(merchant, kept.id)
        assert stored is not None and stored.description == "after the savepoint"


async def test_a_cancelled_unit_of_work_leaves_no_transaction_in_the_pool(
    factory: SqlUnitOfWorkFactory, engine: AsyncEngine, ids: RandomIds, merchant: str
) -> None:
    held = await add_intent(factory, ids, merchant)
    started = asyncio.Event()

    async def holder() -> None:
        async with factory() as uow:
            await uow.payment_intents.get(merchant, held.id, for_update=True)
            started.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(holder())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not any(_pooled_in_transaction(engine))
    async with factory() as uow:  # the lock went with the transaction
        await uow.connection.execute(
            text("SELECT 1 FROM payment_intents WHERE id = :id FOR UPDATE NOWAIT"),
            {"id": held.id},
        )
    assert await _idle_in_transaction(factory, engine) == 0


async def test_a_connection_lost_inside_the_transaction_is_an_outage_and_not_pooled(
    factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    intent = await add_intent(factory, ids, merchant)
    with pytest.raises(Exception) as raised:
        async with factory() as uow:
            await uow.payment_intents.get(merchant, intent.id, for_update=True)
            assert await _in_transaction(factory, uow) is True
            pid = (await uow.connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            async with factory() as killer:
                await killer.connection.execute(
                    text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}
                )
            await asyncio.sleep(0.2)
            await uow.payment_intents.get(merchant, intent.id, for_update=True)
            await uow.commit()
    cause = raised.value.__cause__
    assert is_outage(raised.value) or (cause is not None and is_outage(cause))
    assert isinstance(raised.value, PaygateError | DBAPIError)
    for _ in range(3):
        async with factory() as uow:
            assert await uow.payment_intents.get(merchant, intent.id, for_update=True)
            await uow.commit()


async def test_the_pool_discards_a_connection_back_with_a_transaction_sqlalchemy_did_not_begin(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        driver = (await adapter_of(connection)).driver_connection
        pid = driver.get_server_pid()
        await driver.execute("BEGIN")
    assert pid not in [pooled.get_server_pid() for pooled in _pooled(engine)]
    # SQLAlchemy's own transaction left open is its reset's to roll back: pooled again.
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        driver = (await adapter_of(connection)).driver_connection
        assert driver.is_in_transaction()
        pid = driver.get_server_pid()
    assert pid in [pooled.get_server_pid() for pooled in _pooled(engine)]
    assert not any(_pooled_in_transaction(engine))
