"""Migration 0016_ledger_mode on a database with money in it: rows take their intent's
mode, live postings move to the live accounts, stale checkpoints go; and back down."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.migrate import alembic_config
from tests.databases import fresh_database

M = "acct_migrated"


async def _to(engine: AsyncEngine, revision: str, *, down: bool = False) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config(connection)
        (command.downgrade if down else command.upgrade)(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def _nothing(url: str) -> None:
    return None


@pytest.fixture
async def engine(postgres_admin_url: str) -> AsyncIterator[AsyncEngine]:
    async with fresh_database(postgres_admin_url, "paygate_mig", migrator=_nothing) as url:
        engine = create_engine(url, pool_size=1)
        try:
            yield engine
        finally:
            await engine.dispose()


# One test and one live capture of 1000 USD (net 941, fee 59), posted as 0015 posted them,
# and a checkpoint of each merchant account taken over both.
_BEFORE = """
INSERT INTO merchants (id, name, created) VALUES ('{m}', 'Migrated', now());
INSERT INTO payment_intents (id, merchant_id, amount, currency, status, capture_method,
    client_secret, livemode, created, payment_method_types)
VALUES ('pi_test1', '{m}', 1000, 'USD', 'SUCCEEDED', 'AUTOMATIC', 's1', false, now(), '{{card}}'),
       ('pi_live1', '{m}', 1000, 'USD', 'SUCCEEDED', 'AUTOMATIC', 's2', true, now(), '{{card}}');
INSERT INTO ledger_entries (id, merchant_id, kind, source, payment_intent_id, created,
    bt_type, bt_amount, bt_fee, bt_net, bt_currency, bt_available_on)
VALUES ('txn_test1', '{m}', 'CAPTURE', 'pi_test1', 'pi_test1', now(), 'CHARGE', 1000, 59,
        941, 'USD', now()),
       ('txn_live1', '{m}', 'CAPTURE', 'pi_live1', 'pi_live1', now(), 'CHARGE', 1000, 59,
        941, 'USD', now());
INSERT INTO ledger_postings (entry_id, position, account, merchant_id, currency, amount, created)
VALUES ('txn_test1', 0, 'platform:acquirer_clearing:USD', '{m}', 'USD', 1000, now()),
       ('txn_test1', 1, 'merchant:{m}:pending:USD', '{m}', 'USD', -941, now()),
       ('txn_test1', 2, 'merchant:{m}:fees:USD', '{m}', 'USD', -59, now());
INSERT INTO ledger_postings (entry_id, position, account, merchant_id, currency, amount, created)
VALUES ('txn_live1', 0, 'platform:acquirer_clearing:USD', '{m}', 'USD', 1000, now()),
       ('txn_live1', 1, 'merchant:{m}:pending:USD', '{m}', 'USD', -941, now()),
       ('txn_live1', 2, 'merchant:{m}:fees:USD', '{m}', 'USD', -59, now());
INSERT INTO ledger_unsettled (transaction_id, merchant_id, currency, available_on)
VALUES ('txn_test1', '{m}', 'USD', now()), ('txn_live1', '{m}', 'USD', now());
INSERT INTO ledger_checkpoints (account, below_xid, balance, taken_at)
VALUES ('merchant:{m}:pending:USD', 1, -1882, now());
"""


async def _rows(engine: AsyncEngine, sql: str) -> list[tuple[object, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(text(sql))]


async def test_rows_take_their_intents_mode_and_the_books_split(engine: AsyncEngine) -> None:
    await _to(engine, "0015_invitation_revocation")
    async with engine.begin() as connection:
        for statement in _BEFORE.format(m=M).split(";"):
            if statement.strip():
                await connection.execute(text(statement))
    await _to(engine, "0016_ledger_mode")

    assert await _rows(engine, "SELECT id, livemode FROM ledger_entries ORDER BY id") == [
        ("txn_live1", True),
        ("txn_test1", False),
    ]
    assert await _rows(
        engine, "SELECT transaction_id, livemode FROM ledger_unsettled ORDER BY 1"
    ) == [("txn_live1", True), ("txn_test1", False)]
    assert await _rows(
        engine,
        "SELECT account, amount FROM ledger_postings WHERE entry_id = 'txn_live1'"
        " ORDER BY position",
    ) == [
        ("live:platform:acquirer_clearing:USD", 1000),
        (f"live:merchant:{M}:pending:USD", -941),
        (f"live:merchant:{M}:fees:USD", -59),
    ]
    # The checkpoint summed both modes: gone, the balance is read from the postings again.
    assert await _rows(engine, "SELECT account FROM ledger_checkpoints") == []
    # Each book sums to zero on its own.
    assert await _rows(
        engine,
        "SELECT starts_with(account, 'live:'), sum(amount) FROM ledger_postings GROUP BY 1"
        " ORDER BY 1",
    ) == [(False, 0), (True, 0)]
    # The trigger now refuses an entry that balances only across modes.
    with pytest.raises(DBAPIError, match="does not balance in USD"):
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO ledger_entries (id, merchant_id, kind, source, created)"
                    f" VALUES ('txn_mixed', '{M}', 'ADJUSTMENT', 'adj', now())"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO ledger_postings (entry_id, position, account, merchant_id,"
                    " currency, amount, created) VALUES"
                    f" ('txn_mixed', 0, 'platform:adjustments:USD', '{M}', 'USD', 5, now()),"
                    f" ('txn_mixed', 1, 'live:merchant:{M}:available:USD', '{M}', 'USD', -5,"
                    " now())"
                )
            )

    await _to(engine, "0015_invitation_revocation", down=True)
    assert await _rows(
        engine, "SELECT account FROM ledger_postings WHERE entry_id = 'txn_live1' ORDER BY 1"
    ) == [
        (f"merchant:{M}:fees:USD",),
        (f"merchant:{M}:pending:USD",),
        ("platform:acquirer_clearing:USD",),
    ]
    await _to(engine, "head")
