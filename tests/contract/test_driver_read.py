"""A plain read through asyncpg itself (adapters/sql/driver_read.py): only while its unit
of work has no transaction open, with the rows and the errors SQLAlchemy gives."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import column, select, table, text
from sqlalchemy.exc import DBAPIError

from adapters.sql.driver_read import DriverRead, first
from adapters.sql.errors import is_outage
from adapters.sql.payments.intents import _GET, _GET_READ, SqlPaymentIntents
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.payments.model import PaymentIntent
from tests.contract.helpers import add_intent, add_merchant, new_intent
from tests.contract.test_lazy_transaction import _in_transaction


@pytest.fixture
async def merchant(uow_factory: SqlUnitOfWorkFactory, ids: RandomIds) -> str:
    return await add_merchant(uow_factory, ids)


@pytest.fixture
async def stored(uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str) -> PaymentIntent:
    return await add_intent(uow_factory, ids, merchant)


async def test_the_rows_are_the_ones_sqlalchemy_gives(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    intent = await add_intent(uow_factory, ids, merchant, metadata={"order": "42", "é": "ü"})
    async with uow_factory() as uow:
        # The JSON columns set (valid for the domain: other tests share the database), a
        # NULL timestamp and an array: what the processors touch.
        await uow.connection.execute(
            text(
                "UPDATE payment_intents SET"
                ' last_payment_error = \'{"code": "card_declined", "message": "Refusé"}\','
                ' next_action = \'{"type": "REDIRECT_TO_URL", "url": "https://x.test/3ds"}\','
                ' payment_method_details = \'{"type": "card", "card_last4": "4242"}\','
                " payment_method_types = ARRAY['card', 'upi']"
                " WHERE id = :id"
            ),
            {"id": intent.id},
        )
        await uow.commit()
    params = {"intent_id": intent.id, "merchant_id": merchant}
    async with uow_factory() as uow:
        assert uow.connection.begun is False
        driven = await uow.connection.read(_GET_READ, params)
        # Below SQLAlchemy: it did not even autobegin its own record of a transaction.
        assert uow.connection._connection.in_transaction() is False
        through_sqlalchemy = (await uow.connection.execute(_GET, params)).mappings().all()
    assert [dict(row) for row in through_sqlalchemy] == driven
    assert driven[0]["last_payment_error"] == {"code": "card_declined", "message": "Refusé"}
    assert driven[0]["payment_method_types"] == ["card", "upi"]
    assert driven[0]["canceled_at"] is None


async def test_a_read_after_begin_runs_inside_the_transaction(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    """The unit of work sends BEGIN itself, on asyncpg, when it begins: a read run by
    asyncpg after that is inside the transaction and sees its uncommitted writes."""
    intent = new_intent(ids, merchant)
    async with uow_factory() as uow:
        await uow.payment_intents.add(intent)
        assert await uow.payment_intents.get(merchant, intent.id) is not None  # its own write
        await uow.commit()
        await uow.connection.begin()  # BEGIN sent
        assert await _in_transaction(uow_factory, uow) is True
        assert await uow.payment_intents.get(merchant, intent.id) is not None
        assert await _in_transaction(uow_factory, uow) is True
        await uow.commit()
        assert await uow.payment_intents.get(merchant, intent.id) is not None
        assert await _in_transaction(uow_factory, uow) is False


async def test_an_error_is_raised_as_sqlalchemy_raises_it_and_leaves_nothing_open(
    uow_factory: SqlUnitOfWorkFactory, stored: PaymentIntent
) -> None:
    missing = DriverRead(select(table("no_such_table", column("x"))))
    async with uow_factory() as uow:
        with pytest.raises(DBAPIError) as raised:
            await uow.connection.read(missing, {})
        assert getattr(raised.value.orig, "sqlstate", None) == "42P01"
        assert not is_outage(raised.value)
        # The connection goes on: no aborted transaction was left behind.
        assert await uow.payment_intents.get(stored.merchant_id, stored.id) is not None
        assert await _in_transaction(uow_factory, uow) is False


async def test_a_connection_lost_under_a_read_is_an_outage_and_not_pooled_again(
    uow_factory: SqlUnitOfWorkFactory, stored: PaymentIntent
) -> None:
    merchant, intent = stored.merchant_id, stored
    with pytest.raises(Exception) as raised:
        async with uow_factory() as uow:
            pid = (await uow.connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await uow.connection.commit()
            async with uow_factory() as killer:
                await killer.connection.execute(
                    text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}
                )
            # The driver reads the server's goodbye when the loop next runs: a statement
            # sent before that meets a protocol error, through SQLAlchemy or not.
            await asyncio.sleep(0.2)
            await uow.payment_intents.get(merchant, intent.id)
    cause = raised.value.__cause__
    assert is_outage(raised.value) or (cause is not None and is_outage(cause))
    for _ in range(3):  # whichever pooled connection comes next works
        async with uow_factory() as uow:
            assert await uow.payment_intents.get(merchant, intent.id) is not None


async def test_on_a_connection_of_its_own_in_autocommit_and_in_a_transaction(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    """The idempotency key's read runs on a connection of the autocommit engine; a
    connection in a transaction leaves the read to SQLAlchemy, inside it."""
    intent = await add_intent(uow_factory, ids, merchant)
    params = {"intent_id": intent.id, "merchant_id": merchant}
    engine = uow_factory.engine
    async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as alone:
        row = await first(alone, _GET_READ, params)
        assert alone.in_transaction() is False  # not through SQLAlchemy
        assert row == dict((await alone.execute(_GET, params)).mappings().one())
    written = new_intent(ids, merchant)
    async with engine.connect() as connection, connection.begin():
        await SqlPaymentIntents(connection).add(written)
        row = await first(connection, _GET_READ, {**params, "intent_id": written.id})
        assert row is not None and row["id"] == written.id  # its own uncommitted write


async def test_multi_row_inserts_run_in_the_transaction_and_compile_once(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    from sqlalchemy.sql import compiler

    from adapters.sql.tables import payment_events

    await add_intent(uow_factory, ids, merchant)  # compiled here, if ever
    compiled: list[object] = []
    original = compiler.SQLCompiler.__init__

    def counting(self: Any, dialect: Any, statement: Any, *args: Any, **kwargs: Any) -> None:
        compiled.append(getattr(statement, "table", None))
        original(self, dialect, statement, *args, **kwargs)

    kept, dropped = new_intent(ids, merchant), new_intent(ids, merchant)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compiler.SQLCompiler, "__init__", counting)
        async with uow_factory() as uow:
            await uow.payment_intents.add(kept)
            await uow.payment_events.append(kept.pull_events())
            await uow.commit()
        async with uow_factory() as uow:
            await uow.payment_intents.add(dropped)
            await uow.payment_events.append(dropped.pull_events())  # left without commit
            assert await _in_transaction(uow_factory, uow) is True
    assert payment_events not in compiled
    async with uow_factory() as uow:
        assert len(await uow.payment_events.for_intent(merchant, kept.id)) == 1
        assert await uow.payment_events.for_intent(merchant, dropped.id) == []
