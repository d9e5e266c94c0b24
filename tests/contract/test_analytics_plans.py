"""The analytics queries as PostgreSQL plans them: each is served by its index (the
plans at ten million payments are in docs/dashboard.md; tests/bench/analytics.py times
them). Plans are read with sequential scans discouraged, as on a table too large to
scan; on the few rows of a test database the planner would rightly scan instead. A few
thousand payments of four merchants, in both modes, are analysed first and the plans are
of one of them: on empty tables every index on merchant_id costs the same and the
planner's pick is a coin toss, and a merchant the statistics have never seen looks like
one with no rows at all."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.analytics import (
    attempts_query,
    decline_reasons_query,
    money_query,
    rollup_attempts_query,
    rollup_decline_reasons_query,
    rollup_money_query,
)
from core.analytics.model import AnalyticsRange, Interval
from tests.bench.analytics import sql_and_params

SPAN = AnalyticsRange(
    "acct_planfill1", "USD", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC),
    Interval.DAY,
)  # fmt: skip


# Four merchants' payments, some failed, half of them live: the statistics of a table in
# use rather than of an empty one.
_FILL = """
    WITH n AS (SELECT n, 'acct_planfill' || (n % 4) AS merchant, n % 2 = 0 AS live,
                      timestamptz '2026-01-01' + n * interval '1 minute' AS at,
                      'planfill' || lpad(n::text, 6, '0') AS nid
               FROM generate_series(1, 4000) AS n),
    m AS (INSERT INTO merchants (id, name, created)
          SELECT DISTINCT merchant, 'plan fill', timestamptz '2026-01-01' FROM n),
    i AS (INSERT INTO payment_intents (id, merchant_id, amount, currency, status,
              capture_method, client_secret, livemode, created, payment_method_types)
          SELECT 'pi_' || nid, merchant, 1000, 'USD', 'SUCCEEDED', 'AUTOMATIC',
                 'pi_' || nid || '_secret', live, at, ARRAY['card'] FROM n)
    SELECT 1
"""
_FILL_ATTEMPTS = """
    INSERT INTO payment_attempts (id, merchant_id, payment_intent_id, amount, currency,
        status, payment_method_type, acquirer, decline_code, amount_authorized, created,
        updated_at, livemode)
    SELECT 'pa_' || substr(id, 4), merchant_id, id, 1000, 'USD',
           CASE WHEN created::time = '00:10' THEN 'FAILED' ELSE 'AUTHORIZED' END, 'card',
           'card_network_simulator',
           CASE WHEN created::time = '00:10' THEN 'generic_decline' ELSE '' END,
           CASE WHEN created::time = '00:10' THEN 0 ELSE 1000 END, created, created, livemode
    FROM payment_intents WHERE merchant_id LIKE 'acct_planfill%'
"""
_FILL_ENTRIES = """
    INSERT INTO ledger_entries (id, merchant_id, kind, source, payment_intent_id, created,
        bt_type, bt_amount, bt_fee, bt_net, bt_currency, bt_available_on, livemode)
    SELECT 'txn_' || substr(id, 4), merchant_id, 'CAPTURE', id, id, created, 'CHARGE',
           1000, 59, 941, 'USD', created, livemode
    FROM payment_intents WHERE merchant_id LIKE 'acct_planfill%'
"""


@pytest.fixture(scope="module")
async def analysed(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.exec_driver_sql(_FILL)
        await connection.exec_driver_sql(_FILL_ATTEMPTS)
        await connection.exec_driver_sql(_FILL_ENTRIES)
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("payment_intents", "payment_attempts", "ledger_entries"):
            await connection.exec_driver_sql(f"VACUUM ANALYZE {table}")


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
        (decline_reasons_query, "ix_payment_attempts_failed", "Index Only Scan"),
    ],
)
@pytest.mark.parametrize("livemode", [False, True])
async def test_each_query_reads_its_index(
    engine: AsyncEngine, analysed: None, query: Any, index: str, node: str, livemode: bool
) -> None:
    span = dataclasses.replace(SPAN, livemode=livemode)
    assert scans(await plan_of(engine, query(span))) == [(node, index)]


async def test_an_hourly_range_is_the_same_plan(engine: AsyncEngine, analysed: None) -> None:
    hourly = AnalyticsRange(
        SPAN.merchant_id, "USD", SPAN.start, SPAN.start + timedelta(days=2), Interval.HOUR
    )
    assert scans(await plan_of(engine, money_query(hourly))) == [
        ("Index Only Scan", "ix_ledger_entries_analytics")
    ]


def relations(plan: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(relation, node, index) of every scan of a table in the plan."""
    found = set()
    if "Relation Name" in plan:
        found.add((plan["Relation Name"], plan["Node Type"], plan.get("Index Name", "")))
    for child in plan.get("Plans", []):
        found |= relations(child)
    return found


@pytest.mark.parametrize(
    ("query", "table", "index", "rollup"),
    [
        (rollup_attempts_query, "payment_attempts", "ix_payment_attempts_analytics",
         "analytics_hourly_attempts"),
        (rollup_money_query, "ledger_entries", "ix_ledger_entries_analytics",
         "analytics_hourly_money"),
        (rollup_decline_reasons_query, "payment_attempts", "ix_payment_attempts_failed",
         "analytics_hourly_declines"),
    ],
)  # fmt: skip
async def test_a_read_through_the_rollup_reads_the_raw_rows_by_their_index(
    engine: AsyncEngine, analysed: None, query: Any, table: str, index: str, rollup: str
) -> None:
    """The raw share (the ends, the dirty hours) is range scans of the same index; the
    rollup's share is its primary key; the dirty hours are looked up by theirs."""
    found = relations(await plan_of(engine, query(SPAN)))
    assert {(n, i) for t, n, i in found if t == table} == {("Index Only Scan", index)}
    assert {i for t, _, i in found if t == rollup} == {f"pk_{rollup}"}
    assert {i for t, _, i in found if t == "analytics_dirty_hours"} == {
        "ix_analytics_dirty_hours_merchant_id_livemode_currency_hour"
    }
