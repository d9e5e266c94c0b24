"""What only PostgreSQL can show: triggers, row locks, races, the migrated schema."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateTable

from adapters.sql.engine import asyncpg_url
from adapters.sql.migrate import migrate
from adapters.sql.tables import metadata
from adapters.sql.unit_of_work import SqlUnitOfWork, SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.payments.model import Status
from core.shared.errors import AlreadyExists, Conflict
from tests.contract.helpers import add_intent, add_merchant, later, new_intent


@pytest.fixture
async def merchant(uow_factory: SqlUnitOfWorkFactory, ids: RandomIds) -> str:
    return await add_merchant(uow_factory, ids)


async def _backend_pid(uow: SqlUnitOfWork) -> int:
    pid: int = (await uow.connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return pid


async def _wait_until_blocked(engine: AsyncEngine, pid: int) -> None:
    """Waits until backend `pid` waits for a lock another backend holds."""
    async with engine.connect() as observer:
        for _ in range(500):
            blockers = (
                await observer.execute(text("SELECT pg_blocking_pids(:pid)"), {"pid": pid})
            ).scalar_one()
            if blockers:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} never blocked")


# --- append-only history ---------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE payment_events SET actor = 'forger' WHERE payment_intent_id = :id",
        "DELETE FROM payment_events WHERE payment_intent_id = :id",
        "TRUNCATE payment_events CASCADE",
    ],
    ids=["update", "delete", "truncate"],
)
async def test_payment_events_refuse_changes(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str, statement: str
) -> None:
    intent = await add_intent(uow_factory, ids, merchant)
    async with uow_factory() as uow:
        with pytest.raises(DBAPIError, match="payment_events is append-only"):
            await uow.connection.execute(text(statement), {"id": intent.id})
    async with uow_factory() as uow:
        assert len(await uow.payment_events.for_intent(merchant, intent.id)) == 1


# --- optimistic and pessimistic concurrency --------------------------------------------


async def test_racing_updates_one_wins_one_conflicts(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine, ids: RandomIds, merchant: str
) -> None:
    intent = await add_intent(uow_factory, ids, merchant)
    async with uow_factory() as first, uow_factory() as second:
        mine = await first.payment_intents.get(merchant, intent.id)
        theirs = await second.payment_intents.get(merchant, intent.id)
        assert mine is not None and theirs is not None
        mine.transition(Status.CANCELED, actor="key_first", at=later(1))
        theirs.transition(Status.PROCESSING, actor="key_second", at=later(1))

        await first.payment_intents.update(mine)  # holds the row lock until commit
        second_pid = await _backend_pid(second)
        losing = asyncio.create_task(second.payment_intents.update(theirs))
        await _wait_until_blocked(engine, second_pid)
        await first.commit()
        with pytest.raises(Conflict) as raised:
            await losing
        assert raised.value.reason == "CONCURRENT_UPDATE"

    async with uow_factory() as uow:
        stored = await uow.payment_intents.get(merchant, intent.id)
    assert stored is not None
    assert (stored.status, stored.version) == (Status.CANCELED, 2)


async def test_for_update_serializes_read_modify_write(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine, ids: RandomIds, merchant: str
) -> None:
    intent = await add_intent(uow_factory, ids, merchant, amount=1000)

    async def add_attempt(uow: SqlUnitOfWork) -> None:
        loaded = await uow.payment_intents.get(merchant, intent.id, for_update=True)
        assert loaded is not None
        loaded.attempts += 1
        await uow.payment_intents.update(loaded)
        await uow.commit()

    async with uow_factory() as first, uow_factory() as second:
        locked = await first.payment_intents.get(merchant, intent.id, for_update=True)
        assert locked is not None
        second_pid = await _backend_pid(second)
        waiting = asyncio.create_task(add_attempt(second))
        await _wait_until_blocked(engine, second_pid)
        locked.attempts += 1
        await first.payment_intents.update(locked)
        await first.commit()
        # The waiter reads the committed row, so its update is not stale: no Conflict.
        await waiting

    async with uow_factory() as uow:
        stored = await uow.payment_intents.get(merchant, intent.id)
    assert stored is not None
    assert (stored.attempts, stored.version) == (2, 3)


async def test_many_concurrent_locked_increments_lose_nothing(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    intent = await add_intent(uow_factory, ids, merchant)

    async def increment() -> None:
        async with uow_factory() as uow:
            loaded = await uow.payment_intents.get(merchant, intent.id, for_update=True)
            assert loaded is not None
            loaded.attempts += 1
            await uow.payment_intents.update(loaded)
            await uow.commit()

    await asyncio.gather(*(increment() for _ in range(8)))
    async with uow_factory() as uow:
        stored = await uow.payment_intents.get(merchant, intent.id)
    assert stored is not None and (stored.attempts, stored.version) == (8, 9)


async def test_a_deadlock_surfaces_as_a_retryable_conflict(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    one = await add_intent(uow_factory, ids, merchant)
    two = await add_intent(uow_factory, ids, merchant)

    async def lock_both(first: str, second: str, go: asyncio.Event) -> None:
        async with uow_factory() as uow:
            await uow.connection.execute(text("SET LOCAL deadlock_timeout = '20ms'"))
            await uow.payment_intents.get(merchant, first, for_update=True)
            go.set()
            await both_hold_one.wait()
            await uow.payment_intents.get(merchant, second, for_update=True)
            await uow.commit()

    a_ready, b_ready = asyncio.Event(), asyncio.Event()
    both_hold_one = asyncio.Event()
    a = asyncio.create_task(lock_both(one.id, two.id, a_ready))
    b = asyncio.create_task(lock_both(two.id, one.id, b_ready))
    await a_ready.wait()
    await b_ready.wait()
    both_hold_one.set()
    results = await asyncio.gather(a, b, return_exceptions=True)

    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(conflicts) == 1, results
    assert conflicts[0].reason == "DEADLOCK_DETECTED"
    assert results.count(None) == 1


# --- constraints the database enforces on its own ---------------------------------------


async def test_adding_an_existing_id_is_already_exists(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    intent = await add_intent(uow_factory, ids, merchant)
    async with uow_factory() as uow:
        with pytest.raises(AlreadyExists):
            await uow.payment_intents.add(new_intent(ids, merchant, id=intent.id))


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        # Both CHECKs refuse it; PostgreSQL names whichever it evaluates first.
        ({"amount_received": 2001}, "ck_payment_intents_amount_(received|held)"),
        ({"amount_received": 600, "amount_capturable": 1500}, "ck_payment_intents_amount_held"),
        ({"attempts": 1, "failed_attempts": 2}, "ck_payment_intents_failed_attempts"),
        ({"amount_received": 10, "amount_refunded": 11}, "ck_payment_intents_amount_refunded"),
        ({"amount_capturable": -1}, "ck_payment_intents_amount_capturable"),
        ({"currency": "eur"}, "ck_payment_intents_currency"),
    ],
)
async def test_money_invariants_are_checked_by_the_database(
    uow_factory: SqlUnitOfWorkFactory,
    ids: RandomIds,
    merchant: str,
    fields: dict[str, Any],
    constraint: str,
) -> None:
    async with uow_factory() as uow:
        with pytest.raises(IntegrityError, match=constraint):
            await uow.payment_intents.add(new_intent(ids, merchant, amount=2000, **fields))


async def test_an_intent_needs_an_existing_merchant(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds
) -> None:
    async with uow_factory() as uow:
        with pytest.raises(IntegrityError, match="fk_payment_intents_merchant_id_merchants"):
            await uow.payment_intents.add(new_intent(ids, ids.new("acct")))


async def test_last_used_at_never_moves_backwards(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    from tests.contract.test_access_contract import add_key, new_key

    key, _ = new_key(ids, merchant)
    await add_key(uow_factory, key)
    async with uow_factory() as uow:
        await uow.api_keys.record_use(key.id, later(5))
        await uow.api_keys.record_use(key.id, later(3))  # committed late by a slow request
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.api_keys.get(merchant, key.id)
    assert stored is not None and (stored.last_used_at, stored.usage_count) == (later(5), 2)


# --- schema and migrations --------------------------------------------------------------


async def test_the_migrated_schema_is_what_tables_py_declares(engine: AsyncEngine) -> None:
    def differences(connection: object) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})  # type: ignore[arg-type]
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []
        constraints = set(
            (
                await connection.execute(
                    text("SELECT conname FROM pg_constraint WHERE contype = 'c'")
                )
            ).scalars()
        )
    # The names the naming convention gives tables.py's CHECKs, as CREATE TABLE spells them.
    dialect = postgresql.dialect()
    declared = {
        name
        for table in metadata.tables.values()
        for name in re.findall(
            r"CONSTRAINT (ck_\w+) CHECK", str(CreateTable(table).compile(dialect=dialect))
        )
    }
    assert declared
    assert declared == {name for name in constraints if name.startswith("ck_")}


async def test_migrate_is_idempotent_and_safe_to_run_concurrently(database_url: str) -> None:
    await asyncio.gather(*(migrate(database_url) for _ in range(3)))
    await migrate(database_url)


def test_urls_are_rewritten_for_asyncpg() -> None:
    assert (
        asyncpg_url("postgresql://postgres@127.0.0.1:5432/db").render_as_string()
        == "postgresql+asyncpg://postgres@127.0.0.1:5432/db"
    )
    assert asyncpg_url("postgres://u:p@h/db").drivername == "postgresql+asyncpg"
    socket_url = asyncpg_url("postgresql+asyncpg://postgres@/db?host=/tmp/pg")
    assert socket_url.query == {"host": "/tmp/pg"}
    with pytest.raises(ValueError, match="asyncpg"):
        asyncpg_url("postgresql+psycopg://postgres@/db")
