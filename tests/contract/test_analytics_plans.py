"""The analytics queries as PostgreSQL plans them: each is served by its index (the
plans at ten million payments are in docs/dashboard.md; tests/bench/analytics.py times
them). Plans are read with sequential scans discouraged, as on a table too large to
scan; on the few rows of a test database the planner would rightly scan instead."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.analytics import attempts_query, decline_reasons_query, money_query
from core.analytics.model import AnalyticsRange, Interval
from tests.bench.analytics import sql_and_params

SPAN = AnalyticsRange(
    "acct_plan", "USD", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC),
    Interval.DAY,
)  # fmt: skip


async def plan_of(engine: AsyncEngine, query: Any) -> dict[str, Any]:
    sql, params = sql_and_params(query, engine.dialect)
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        async with raw.transaction():
            await raw.execute("SET LOCAL enable_seqscan = off")
            rows = await raw.fetch(f"EXPLAIN (FORMAT JSON) {sql}", *params)
    explained = rows[0][0]  # the engine's connections decode json themselves
    document = json.loads(explained) if isinstance(explained, str) else explained
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


def scans(plan: dict[str, Any]) -> list[tuple[str, str]]:
    found = [(plan["Node Type"], plan.get("Index Name", ""))] if "Scan" in plan["Node Type"] else []
    for child in plan.get("Plans", []):
        found += scans(child)
    return found


@pytest.mark.parametrize(
    ("query", "index", "node"),
    [
        (attempts_query, "ix_payment_attempts_analytics", "Index Only Scan"),
        (money_query, "ix_ledger_entries_analytics", "Index Only Scan"),
        (decline_reasons_query, "ix_payment_attempts_failed", "Index Scan"),
    ],
)
async def test_each_query_reads_its_index(
    engine: AsyncEngine, query: Any, index: str, node: str
) -> None:
    assert scans(await plan_of(engine, query(SPAN))) == [(node, index)]


async def test_an_hourly_range_is_the_same_plan(engine: AsyncEngine) -> None:
    hourly = AnalyticsRange(
        "acct_plan", "USD", SPAN.start, SPAN.start + timedelta(days=2), Interval.HOUR
    )
    assert scans(await plan_of(engine, money_query(hourly))) == [
        ("Index Only Scan", "ix_ledger_entries_analytics")
    ]
