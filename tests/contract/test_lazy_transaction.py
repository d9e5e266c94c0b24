"""The SQL unit of work begins its transaction at the first write or locking read.

Plain reads before it run alone (no BEGIN, no ROLLBACK: a GET is one statement); from the
first write on, everything is one transaction that commits or rolls back as a whole.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.shared.errors import Unavailable
from tests.contract.helpers import add_intent, add_merchant, new_intent


@pytest.fixture
async def merchant(uow_factory: SqlUnitOfWorkFactory, ids: RandomIds) -> str:
    return await add_merchant(uow_factory, ids)


async def _in_transaction(uow_factory: SqlUnitOfWorkFactory, uow: object) -> bool:
    """Whether the session has a transaction open, as another session sees it."""
    connection = uow.connection._connection  # type: ignore[attr-defined]
    pid = (await connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
    async with uow_factory() as observer:
        state = (
            await observer.connection.execute(
                text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
        ).scalar_one()
    return str(state).startswith("idle in transaction")


async def test_reads_alone_open_no_transaction(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    intent = await add_intent(uow_factory, ids, merchant)
    async with uow_factory() as uow:
        assert await uow.payment_intents.get(merchant, intent.id) is not None
        assert uow.connection.begun is False
        assert await _in_transaction(uow_factory, uow) is False


async def test_a_write_after_reads_is_one_transaction_that_rolls_back_whole(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    first, second = new_intent(ids, merchant), new_intent(ids, merchant)
    async with uow_factory() as uow:
        assert await uow.payment_intents.get(merchant, first.id) is None  # a read: alone
        await uow.payment_intents.add(first)
        assert uow.connection.begun is True
        assert await _in_transaction(uow_factory, uow) is True
        await uow.payment_intents.add(second)
        # left without commit(): both writes go
    async with uow_factory() as uow:
        assert await uow.payment_intents.get(merchant, first.id) is None
        assert await uow.payment_intents.get(merchant, second.id) is None


async def test_a_locking_read_begins_the_transaction_and_holds_the_lock(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    intent = await add_intent(uow_factory, ids, merchant)
    async with uow_factory() as holder, uow_factory() as other:
        assert await holder.payment_intents.get(merchant, intent.id, for_update=True)
        assert holder.connection.begun is True
        with pytest.raises(DBAPIError, match="could not obtain lock"):
            await other.connection.execute(
                text("SELECT 1 FROM payment_intents WHERE id = :id FOR UPDATE NOWAIT"),
                {"id": intent.id},
            )


async def test_after_a_commit_the_next_write_opens_a_new_transaction(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    kept, dropped = new_intent(ids, merchant), new_intent(ids, merchant)
    async with uow_factory() as uow:
        await uow.payment_intents.add(kept)
        await uow.commit()
        assert uow.connection.begun is False
        assert await uow.payment_intents.get(merchant, kept.id) is not None  # alone again
        await uow.payment_intents.add(dropped)
        assert uow.connection.begun is True
    async with uow_factory() as uow:
        assert await uow.payment_intents.get(merchant, kept.id) is not None
        assert await uow.payment_intents.get(merchant, dropped.id) is None


async def test_a_connection_lost_inside_a_savepoint_is_unavailable(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    """The savepoint's rollback asks whether a transaction is still open on a connection
    that is gone (asyncpg aborts a connection whose cancellation failed, as under a
    black-holed server): none is, and the call is UNAVAILABLE, never INTERNAL."""
    with pytest.raises(Unavailable):
        async with uow_factory() as uow, uow.connection.begin_nested():
            uow.connection._driver.terminate()  # lost under the savepoint
            await uow.payment_intents.add(new_intent(ids, merchant))
    async with uow_factory() as uow:  # the pool serves again
        assert await uow.payment_intents.get(merchant, "pi_none") is None
