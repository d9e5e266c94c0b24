"""Payment analytics over the fake unit of work's tables: the same sums as the SQL
adapter, computed row by row (the contract tests hold the two together)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import TYPE_CHECKING

from core.analytics.model import (
    PAYMENT_ACTIVITY,
    STEP,
    AnalyticsRange,
    AttemptCounts,
    MoneyTotals,
    RawAnalytics,
)
from core.payments.model import AttemptStatus

if TYPE_CHECKING:
    from tests.fakes.unit_of_work import Tables


def _bucket(at: datetime, span: AnalyticsRange) -> datetime:
    step = STEP[span.interval]
    return span.start + ((at - span.start) // step) * step


class MemoryPaymentAnalytics:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def read(self, span: AnalyticsRange) -> RawAnalytics:
        attempts = [
            a
            for a in self._t.payment_attempts.values()
            if a.merchant_id == span.merchant_id
            and a.livemode == span.livemode
            and a.currency == span.currency
            and span.start <= a.created < span.end
        ]
        counts: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
        reasons: Counter[str] = Counter()
        for attempt in attempts:
            bucket = counts[_bucket(attempt.created, span)]
            if attempt.status is AttemptStatus.FAILED:
                bucket[1] += 1
                reasons[attempt.decline_code or "unknown"] += 1
            elif attempt.amount_authorized > 0:
                bucket[0] += 1
        money: dict[tuple[datetime, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for t in self._t.ledger.transactions.values():
            if (
                t.merchant_id == span.merchant_id
                and t.livemode == span.livemode
                and t.currency == span.currency
                and t.type.value in PAYMENT_ACTIVITY
                and span.start <= t.created < span.end
            ):
                sums = money[(_bucket(t.created, span), t.type.value)]
                sums[0] += t.amount
                sums[1] += t.fee
                sums[2] += t.net
        return RawAnalytics(
            attempts=[
                AttemptCounts(bucket, succeeded, failed)
                for bucket, (succeeded, failed) in counts.items()
                if succeeded or failed
            ],
            money=[
                MoneyTotals(bucket, kind, amount, fee, net)
                for (bucket, kind), (amount, fee, net) in money.items()
            ],
            decline_reasons=sorted(reasons.items()),
        )
