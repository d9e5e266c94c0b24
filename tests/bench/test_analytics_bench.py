"""The analytics scenario runs at small scale and its queries add up to what it seeded.

No time is asserted: a benchmark is not a timed test (docs/performance.md)."""

from __future__ import annotations

from datetime import timedelta

from adapters.sql.analytics import DIRECT_QUERIES, QUERIES
from core.analytics.model import AnalyticsRange, Interval
from tests.bench.analytics import (
    DAYS,
    MERCHANT,
    START,
    build_rollup,
    explain,
    run_analytics,
    seed,
)


async def test_the_seeded_payments_add_up_and_the_plans_are_read(database_url: str) -> None:
    seeded = await seed(database_url, 3_000, days=DAYS)
    everything = AnalyticsRange(MERCHANT, "USD", START, START + timedelta(days=DAYS), Interval.DAY)
    answers = []
    for rolled_up in (False, True):  # the seeded hours marked dirty, then summed
        if rolled_up:
            await build_rollup(database_url)
        result, timings = await run_analytics(database_url, everything)
        totals = result.totals
        assert (totals.payments, totals.succeeded) == (seeded.payments, seeded.succeeded)
        assert (totals.volume, totals.refunds) == (seeded.volume, seeded.refunds)
        assert (totals.fees, totals.net) == (seeded.fees, seeded.net)
        assert len(result.buckets) == DAYS and len(timings) > 1
        declined = seeded.payments - seeded.succeeded
        assert sum(count for _, count in result.decline_reasons) == declined
        answers.append(result)
    assert answers[0] == answers[1]
    for queries in (DIRECT_QUERIES, QUERIES):
        plans = await explain(database_url, everything, queries)
        assert set(plans) == {"attempts", "money", "decline_reasons"}
        assert all("actual time" in plan for plan in plans.values())
