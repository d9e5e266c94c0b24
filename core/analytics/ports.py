"""What analytics needs from the outside world: sums the database computes."""

from __future__ import annotations

from typing import Protocol

from core.analytics.model import AnalyticsRange, RawAnalytics


class PaymentAnalyticsQuery(Protocol):
    async def read(self, span: AnalyticsRange) -> RawAnalytics:
        """The range's attempt counts and balance-transaction sums per bucket (buckets
        without any left out) and its decline reasons; bucket keys are the buckets'
        starts (UTC)."""
        ...


class AnalyticsScope(Protocol):
    """The analytics context's queries in a unit of work (core/unit_of_work.py)."""

    analytics: PaymentAnalyticsQuery
