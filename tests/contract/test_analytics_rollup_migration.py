"""Migration 0018_analytics_rollup on a database with payments in it: nothing summed
and every read raw until the worker's first build; and back down, triggers and all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.analytics_rollup import build_merchants, roll_up
from adapters.sql.engine import create_engine
from core.analytics.model import AnalyticsRange, Interval
from tests.contract.test_analytics_rollup import both
from tests.contract.test_ledger_mode_migration import _nothing, _rows, _to
from tests.databases import fresh_database

AT = datetime(2026, 2, 1, 10, 15, tzinfo=UTC)

_BEFORE = """
INSERT INTO merchants (id, name, created) VALUES ('acct_m18', 'Migrated', :at);
INSERT INTO payment_intents (id, merchant_id, amount, currency, status, capture_method,
    client_secret, livemode, created, payment_method_types)
VALUES ('pi_m18', 'acct_m18', 1000, 'USD', 'SUCCEEDED', 'AUTOMATIC', 's', true, :at, '{card}');
INSERT INTO payment_attempts (id, merchant_id, payment_intent_id, amount, currency, status,
    payment_method_type, acquirer, amount_authorized, amount_captured, created, updated_at,
    livemode)
VALUES ('pa_m18', 'acct_m18', 'pi_m18', 1000, 'USD', 'CAPTURED', 'card', 'sim', 1000, 1000,
        :at, :at, true);
INSERT INTO ledger_entries (id, merchant_id, kind, source, payment_intent_id, created,
    bt_type, bt_amount, bt_fee, bt_net, bt_currency, bt_available_on, livemode)
VALUES ('txn_m18', 'acct_m18', 'CAPTURE', 'pa_m18', 'pi_m18', :at, 'CHARGE', 1000, 59, 941,
        'USD', :at, true)
"""
_TABLES = (
    "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'analytics%' AND schemaname = 'public'"
)
_TRIGGERS = "SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%analytics%'"


@pytest.fixture
async def engine(postgres_admin_url: str) -> AsyncIterator[AsyncEngine]:
    async with fresh_database(postgres_admin_url, "paygate_mig18", migrator=_nothing) as url:
        engine = create_engine(url, pool_size=2)
        try:
            yield engine
        finally:
            await engine.dispose()


async def test_payments_before_the_rollup_are_read_raw_then_summed_and_it_goes_down(
    engine: AsyncEngine,
) -> None:
    await _to(engine, "0017_redirect_attempt_details")
    async with engine.begin() as connection:
        for statement in _BEFORE.split(";"):
            await connection.execute(text(statement), {"at": AT})
    await _to(engine, "0018_analytics_rollup")
    assert await _rows(engine, "SELECT count(*) FROM analytics_rollup_merchants") == [(0,)]
    assert await _rows(engine, "SELECT count(*) FROM analytics_dirty_hours") == [(0,)]
    day = AT.replace(hour=0, minute=0)
    span = AnalyticsRange("acct_m18", "USD", day, day + timedelta(days=1), Interval.HOUR, True)
    through, direct = await both(engine, span)
    assert through == direct and through[1] == [(AT.replace(minute=0), "CHARGE", 1000, 59, 941)]

    assert await build_merchants(engine, limit=100) == 1
    assert await roll_up(engine, now=AT + timedelta(days=1), limit=100) == 0  # nothing dirty
    assert await _rows(engine, "SELECT merchant_id FROM analytics_rollup_merchants") == [
        ("acct_m18",)
    ]
    assert await _rows(
        engine, "SELECT merchant_id, livemode, hour, succeeded FROM analytics_hourly_attempts"
    ) == [("acct_m18", True, AT.replace(minute=0), 1)]
    assert (await both(engine, span))[0] == through

    await _to(engine, "0017_redirect_attempt_details", down=True)
    assert await _rows(engine, _TABLES) == [(0,)]
    assert await _rows(engine, _TRIGGERS) == [(0,)]
    async with engine.begin() as connection:  # the payment path as before 0018
        await connection.execute(text("UPDATE payment_attempts SET status = 'VOIDED'"))
    await _to(engine, "head")
    assert await _rows(engine, _TABLES) == [(5,)]
    assert await _rows(engine, _TRIGGERS) == [(4,)]
