"""The hourly analytics rollup, kept by the worker (`analytics.rollup_build`, `.rollup`).

Reads (adapters/sql/analytics.py) trust a rollup hour only when it is not listed in
analytics_dirty_hours; triggers (migration 0018) list an hour in the same transaction
that changes one of its rows. So the rollup may lag, but it is never wrong: it is at
worst ignored. Keeping it is two steps, each one REPEATABLE READ transaction, so that
what it sums and the marks it clears are of one snapshot:

- build (once per merchant, listed in analytics_rollup_merchants after: every merchant
  after the migration, then each new one): a few merchants a transaction, all their
  rows summed, all their marks cleared. A change that commits after the snapshot left
  a mark the DELETE cannot see. Each transaction is bounded by its merchants' rows, not
  the platform's (a statement stays within the engine's command timeout).
- refresh (each run after): takes up to `limit` dirty (mode, merchant, currency, hour)
  of closed hours, deletes their marks and sums those hours again from the raw tables.
  A change committed after the snapshot has a mark the DELETE cannot see: it stays for
  the next run. The open hour stays dirty until it closes: reads take it raw anyway.

Workers take a session advisory lock before the transaction (so the snapshot is taken
after it): a second worker skips the run instead of failing on the first one's rows.
A worker killed at any point leaves its transaction rolled back and its lock released
with its session: nothing half-written, and the next run does the work again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.analytics.model import PAYMENT_ACTIVITY, hour_of

# pg_try_advisory_lock key of the rollup's writers (int64 of b"pg-rollu").
ROLLUP_LOCK_KEY = int.from_bytes(b"pg-rollu", "big", signed=True)

_HOUR = "date_bin('1 hour', {0}.created, timestamptz '2000-01-01 00:00+00')"
_ACTIVITY = ", ".join(f"'{t}'" for t in PAYMENT_ACTIVITY)

# The sums of the three rollup tables; {attempts} and {entries} are the FROM (as `a`, as
# `e`) and the start of the WHERE: the picked merchants' rows (build) or the rows of the
# picked hours (refresh). Inserted in key
# order, so that a merchant's hours share heap pages: a 30-day read is a few pages.
_SUMS = {
    "analytics_hourly_attempts": f"""
        INSERT INTO analytics_hourly_attempts
            (merchant_id, livemode, currency, hour, succeeded, failed)
        SELECT a.merchant_id, a.livemode, a.currency, {_HOUR.format("a")},
               count(*) FILTER (WHERE a.status <> 'FAILED' AND a.amount_authorized > 0),
               count(*) FILTER (WHERE a.status = 'FAILED')
        FROM {{attempts}} (a.status = 'FAILED' OR a.amount_authorized > 0)
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    """,
    "analytics_hourly_money": f"""
        INSERT INTO analytics_hourly_money
            (merchant_id, livemode, currency, hour, type, amount, fee, net)
        SELECT e.merchant_id, e.livemode, e.bt_currency, {_HOUR.format("e")}, e.bt_type,
               sum(e.bt_amount), sum(e.bt_fee), sum(e.bt_net)
        FROM {{entries}} e.bt_type IS NOT NULL AND e.bt_type IN ({_ACTIVITY})
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    """,
    "analytics_hourly_declines": f"""
        INSERT INTO analytics_hourly_declines
            (merchant_id, livemode, currency, hour, reason, count)
        SELECT a.merchant_id, a.livemode, a.currency, {_HOUR.format("a")},
               coalesce(nullif(a.decline_code, ''), 'unknown'), count(*)
        FROM {{attempts}} a.status = 'FAILED'
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    """,
}

# The picked hours as a relation `k`, from four parallel arrays.
_PICKED = (
    "unnest(CAST(:merchants AS text[]), CAST(:modes AS boolean[]), "
    "CAST(:currencies AS text[]), CAST(:hours AS timestamptz[])) "
    "AS k(merchant_id, livemode, currency, hour)"
)
_SAME_KEY = "{0}.merchant_id = k.merchant_id AND {0}.livemode = k.livemode AND {0}.{1} = k.currency"
# Each picked hour's rows by the analytics indexes: one range scan per hour.
_PICKED_ROWS = {
    "attempts": f"{_PICKED} JOIN payment_attempts AS a ON {_SAME_KEY.format('a', 'currency')}"
    " AND a.created >= k.hour AND a.created < k.hour + interval '1 hour' WHERE",
    "entries": f"{_PICKED} JOIN ledger_entries AS e ON {_SAME_KEY.format('e', 'bt_currency')}"
    " AND e.created >= k.hour AND e.created < k.hour + interval '1 hour' WHERE",
}

_PICK = text(
    """
    SELECT DISTINCT merchant_id, livemode, currency, hour FROM analytics_dirty_hours
    WHERE hour < :before ORDER BY hour, merchant_id, livemode, currency LIMIT :limit
    """
)


@asynccontextmanager
async def _rollup_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection | None]:
    """A REPEATABLE READ transaction under the writers' lock; None when another holds it."""
    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        locked = await connection.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": ROLLUP_LOCK_KEY}
        )
        if not locked:
            yield None
            return
        try:
            async with engine.connect() as work:
                work = await work.execution_options(isolation_level="REPEATABLE READ")
                async with work.begin():
                    yield work
        finally:
            await connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": ROLLUP_LOCK_KEY}
            )


_UNBUILT = text(
    """
    SELECT m.id FROM merchants AS m
    WHERE NOT EXISTS (SELECT 1 FROM analytics_rollup_merchants AS b WHERE b.merchant_id = m.id)
    ORDER BY m.id LIMIT :limit
    """
)
_BUILT_ROWS = {
    "attempts": "payment_attempts AS a WHERE a.merchant_id = ANY(CAST(:merchants AS text[])) AND",
    "entries": "ledger_entries AS e WHERE e.merchant_id = ANY(CAST(:merchants AS text[])) AND",
}


async def build_rollup(engine: AsyncEngine, *, limit: int) -> int:
    """Builds the rollup of up to `limit` merchants that have none yet (new ones, or
    every merchant after the migration): all their rows summed, their marks cleared,
    in one transaction. How many it built."""
    async with _rollup_transaction(engine) as work:
        if work is None:
            return 0
        merchants = list((await work.scalars(_UNBUILT, {"limit": limit})).all())
        if not merchants:
            return 0
        picked = {"merchants": merchants}
        await work.execute(
            text("DELETE FROM analytics_dirty_hours WHERE merchant_id = ANY(:merchants)"), picked
        )
        for table, sums in _SUMS.items():
            await work.execute(
                text(f"DELETE FROM {table} WHERE merchant_id = ANY(:merchants)"), picked
            )
            await work.execute(text(sums.format(**_BUILT_ROWS)), picked)
        await work.execute(
            text(
                "INSERT INTO analytics_rollup_merchants (merchant_id, built) "
                "SELECT unnest(CAST(:merchants AS text[])), now()"
            ),
            picked,
        )
    return len(merchants)


async def refresh_rollup(engine: AsyncEngine, *, now: datetime, limit: int) -> int:
    """Sums again up to `limit` dirty hours that closed before `now`; how many it did."""
    before = hour_of(now)  # the open hour's start
    async with _rollup_transaction(engine) as work:
        if work is None:
            return 0
        picked = (await work.execute(_PICK, {"before": before, "limit": limit})).all()
        if not picked:
            return 0
        keys = {
            "merchants": [row.merchant_id for row in picked],
            "modes": [row.livemode for row in picked],
            "currencies": [row.currency for row in picked],
            "hours": [row.hour for row in picked],
        }
        await work.execute(
            text(
                f"DELETE FROM analytics_dirty_hours AS d USING {_PICKED} "
                f"WHERE {_SAME_KEY.format('d', 'currency')} AND d.hour = k.hour"
            ),
            keys,
        )
        for table, sums in _SUMS.items():
            await work.execute(
                text(
                    f"DELETE FROM {table} AS r USING {_PICKED} "
                    f"WHERE {_SAME_KEY.format('r', 'currency')} AND r.hour = k.hour"
                ),
                keys,
            )
            await work.execute(text(sums.format(**_PICKED_ROWS)), keys)
    return len(picked)


async def roll_up(engine: AsyncEngine, *, now: datetime, limit: int) -> int:
    """The worker's run: one refresh batch of closed dirty hours; how many it summed."""
    summed = await refresh_rollup(engine, now=now, limit=limit)
    if summed:
        await _vacuum_marks(engine)
    return summed


async def build_merchants(engine: AsyncEngine, *, limit: int) -> int:
    """The worker's run: one build batch of merchants without a rollup yet."""
    built = await build_rollup(engine, limit=limit)
    if built:
        await _vacuum_marks(engine)
    return built


async def _vacuum_marks(engine: AsyncEngine) -> None:
    """The deleted marks out of the table and its index now: every read looks its range's
    marks up, and an index-only scan visits the heap for each dead entry until a vacuum
    (autovacuum would come, after a fifth of the table). A worker already vacuuming it
    makes this one skip."""
    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM (SKIP_LOCKED) analytics_dirty_hours"))
