"""Migration 0023_chain_abort: paygate_chain_gate(true) answers true; false (or NULL)
raises SQLSTATE CHAIN_ABORTED and undoes the whole statement, the writes of its CTEs
with it; down drops the function."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.held import aborted
from tests.contract.test_key_changes_migration import engine as engine  # the fixture
from tests.contract.test_ledger_mode_migration import _to

_UNDONE = (
    "WITH made AS (INSERT INTO idempotency_keys (merchant_id, key, method, request_hash,"
    " status, created_at, locked_until) VALUES ('acct_m23', 'k', 'm', '\\x00', 'IN_FLIGHT',"
    " now(), now()) RETURNING merchant_id)"
    " SELECT paygate_chain_gate(EXISTS (SELECT FROM made WHERE false))"
)
_COUNT = "SELECT count(*) FROM idempotency_keys WHERE merchant_id = 'acct_m23'"


async def test_up_undoes_a_statement_whose_gate_wrote_nothing_and_down_drops_it(
    engine: tuple[AsyncEngine, str],
) -> None:
    db, _ = engine
    await _to(db, "0023_chain_abort")
    async with db.connect() as connection:
        assert (await connection.execute(text("SELECT paygate_chain_gate(true)"))).scalar()
    with pytest.raises(DBAPIError) as raised:
        async with db.begin() as connection:
            await connection.execute(text(_UNDONE))
    assert aborted(raised.value)
    async with db.connect() as connection:
        assert (await connection.execute(text(_COUNT))).scalar() == 0
    await _to(db, "0022_created_unwatched", down=True)
    with pytest.raises(DBAPIError) as raised:
        async with db.connect() as connection:
            await connection.execute(text("SELECT paygate_chain_gate(true)"))
    assert not aborted(raised.value)
    await _to(db, "head")
