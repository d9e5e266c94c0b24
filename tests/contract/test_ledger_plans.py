"""The worker's checkpoint query reads the postings by their (account, xid) index: each
read is a range of one account (a loose index scan to list the accounts, then each
account's tail), never the whole table, so a run costs the accounts and the new postings
whatever the size of the books. Plans are read with sequential scans discouraged, as on
a table too large to scan (tests/contract/test_analytics_plans.py does the same)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.ledger.journal import _TAKE_CHECKPOINTS
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from tests.contract.helpers import add_merchant
from tests.contract.ledger_helpers import capture


def postings_reads(
    plan: dict[str, Any], limited: bool = False
) -> list[tuple[dict[str, Any], bool]]:
    """Each read of ledger_postings in the plan, and whether a Limit bounds it."""
    limited = limited or plan["Node Type"] == "Limit"
    found = [(plan, limited)] if plan.get("Relation Name") == "ledger_postings" else []
    for child in plan.get("Plans", []):
        found += postings_reads(child, limited)
    return found


async def test_a_checkpoint_run_reads_each_account_as_one_index_range(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory, ids: RandomIds
) -> None:
    merchant = await add_merchant(uow_factory, ids)
    await capture(uow_factory, ids, merchant, 1000)
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        async with raw.transaction():
            await raw.execute("SET LOCAL enable_seqscan = off")
            sql = str(_TAKE_CHECKPOINTS).replace(":min_postings", "1")
            explained = (await raw.fetch(f"EXPLAIN (FORMAT JSON) {sql}"))[0][0]
    document = json.loads(explained) if isinstance(explained, str) else explained
    reads = postings_reads(document[0]["Plan"])
    assert reads
    for read, limited in reads:
        assert (read["Node Type"], read.get("Index Name")) == (
            "Index Only Scan",
            "ix_ledger_postings_account_xid",
        )
        # a range of one account, or the first entry of the index (the accounts' listing)
        assert "account = " in read.get("Index Cond", "") or limited
    tails = [read for read, _ in reads if "xid >= " in read.get("Index Cond", "")]
    assert len(tails) == 1
