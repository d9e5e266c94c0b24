"""Seeding with the indexes and foreign keys deferred ends with the migrated schema, and a
row that breaks a foreign key is refused when the key comes back."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from tests.bench.analytics import asyncpg_dsn
from tests.bench.bulk import deferred

TABLES = ["payment_intents", "payment_attempts", "ledger_entries", "ledger_postings"]


async def schema_of(connection: asyncpg.Connection) -> list[tuple[str, ...]]:
    indexes = await connection.fetch(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid), indisvalid::text "
        "FROM pg_index WHERE indrelid = ANY($1::regclass[])",
        TABLES,
    )
    constraints = await connection.fetch(
        "SELECT conname::text, pg_get_constraintdef(oid), convalidated::text "
        "FROM pg_constraint WHERE conrelid = ANY($1::regclass[])",
        TABLES,
    )
    triggers = await connection.fetch(
        "SELECT tgname::text, pg_get_triggerdef(oid), tgenabled::text FROM pg_trigger "
        "WHERE tgrelid = ANY($1::regclass[]) AND NOT tgisinternal",  # RI: the constraints
        TABLES,
    )
    return sorted(tuple(r) for r in [*indexes, *constraints, *triggers])


async def test_the_schema_comes_back_as_it_was(database_url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        before = await schema_of(connection)
        async with deferred(connection, TABLES) as taken:
            during = await schema_of(connection)
        assert await schema_of(connection) == before
    finally:
        await connection.close()
    assert taken.indexes and taken.foreign_keys
    names = {row[0] for row in during}
    assert not names & {name for name, _ in taken.indexes}
    assert not names & {name for _, name, _ in taken.foreign_keys}
    assert {"pk_payment_intents", "pk_ledger_postings", "ledger_postings_balance"} <= names
    assert "uq_payment_attempts_payment_intent_id_active" in names  # uniqueness stays


async def test_a_row_without_its_merchant_fails_when_the_key_comes_back(
    database_url: str,
) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        # All in one transaction, rolled back by the failure: the orphan leaves no trace
        # for the tests after this one on the same database.
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            async with connection.transaction(), deferred(connection, ["payment_intents"]):
                await connection.execute(
                    "INSERT INTO payment_intents (id, merchant_id, amount, currency, status, "
                    "capture_method, client_secret, livemode, created, payment_method_types) "
                    "VALUES ('pi_orphan', 'acct_nobody', 100, 'USD', "
                    "'REQUIRES_PAYMENT_METHOD', 'AUTOMATIC', 'pi_orphan_secret', false, $1, "
                    "ARRAY['card'])",
                    datetime(2026, 1, 1, tzinfo=UTC),
                )
        assert (
            await connection.fetchval("SELECT count(*) FROM payment_intents WHERE id = 'pi_orphan'")
            == 0
        )
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM pg_constraint WHERE conname = "
                "'fk_payment_intents_merchant_id_merchants' AND convalidated"
            )
            == 1
        )
    finally:
        await connection.close()


async def test_a_kept_index_stays_through_the_load(database_url: str) -> None:
    kept = "ix_ledger_postings_account_xid"
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        before = await schema_of(connection)
        async with deferred(connection, TABLES, keep=[kept]) as taken:
            during = {row[0] for row in await schema_of(connection)}
        assert await schema_of(connection) == before
    finally:
        await connection.close()
    assert kept in during
    assert kept not in {name for name, _ in taken.indexes}
    assert taken.indexes  # the others are still taken off
    assert set(taken.seconds) >= {f"index {name}" for name, _ in taken.indexes}
