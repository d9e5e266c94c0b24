"""GetPaymentAnalytics: validate the range, let the database sum, shape the answer."""

from __future__ import annotations

from datetime import UTC, datetime

from core.access.model import Principal
from core.analytics.model import (
    MAX_SPAN,
    AnalyticsRange,
    Interval,
    PaymentAnalytics,
    assemble,
    on_boundary,
)
from core.shared.errors import Violations
from core.shared.money import UnknownCurrency, normalize_currency
from core.unit_of_work import UnitOfWorkFactory


class Analytics:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def payments(
        self,
        caller: Principal,
        *,
        currency: str,
        start: datetime | None,
        end: datetime | None,
        interval: Interval | None,
    ) -> PaymentAnalytics:
        span = _range(caller, currency, start, end, interval or Interval.DAY)
        async with self._uow() as uow:
            raw = await uow.analytics.read(span)
        return assemble(span, raw)


def _range(
    caller: Principal,
    currency: str,
    start: datetime | None,
    end: datetime | None,
    interval: Interval,
) -> AnalyticsRange:
    violations = Violations()
    code = ""
    if not currency:
        violations.missing("currency", "is required (an ISO 4217 code such as usd)")
    else:
        try:
            code = normalize_currency(currency)
        except UnknownCurrency:
            violations.add("currency", f"{currency[:8]!r} is not a supported currency")
    width = "midnight UTC" if interval is Interval.DAY else "a whole hour"
    for name, value in (("start", start), ("end", end)):
        if value is None:
            violations.missing(name, "is required (RFC 3339)")
        elif not on_boundary(value, interval):
            violations.add(name, f"must be on a {interval.value} boundary ({width})")
    if start is not None and end is not None:
        if end <= start:
            violations.add("end", "must be after start")
        elif end - start > MAX_SPAN[interval]:
            violations.add("end", f"may be at most {MAX_SPAN[interval].days} days after start")
    violations.raise_if_any()
    assert start is not None and end is not None
    return AnalyticsRange(
        merchant_id=caller.merchant_id,
        currency=code,
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        interval=interval,
        livemode=caller.livemode,
    )
