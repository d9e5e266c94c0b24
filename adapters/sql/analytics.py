"""Payment analytics summed by PostgreSQL: three aggregate queries per range.

A read sums the hourly rollup (analytics_hourly_*, kept by adapters/sql/analytics_rollup.py)
for the range's whole hours and the raw tables for the rest: the partial hours at its
ends, and the hours analytics_dirty_hours lists (rows changed since the rollup summed
them: the open hour, a late outcome, a refund). Each figure is one statement, so it is
of one snapshot: a change and its dirty mark commit together, and the statement sees
both or neither. Until the worker has built a merchant's rollup its hours are read raw.

The raw queries, each bounded by the merchant's rows in the range:

- attempts per bucket: ix_payment_attempts_analytics (merchant_id, livemode, currency,
  created) INCLUDE (status, amount_authorized), an index-only scan;
- balance-transaction sums per bucket and type: ix_ledger_entries_analytics (merchant_id,
  livemode, bt_currency, created) INCLUDE (bt_type, bt_amount, bt_fee, bt_net), an
  index-only scan;
- decline reasons: ix_payment_attempts_failed (the same key, failed attempts only)
  INCLUDE (decline_code), an index-only scan.

Every query is of the caller's mode (`AnalyticsRange.livemode`).

Buckets are `date_bin(step, created, origin)` with the origin at midnight UTC, so a DAY
is a UTC calendar day; a rollup hour falls in the bucket of its start. docs/dashboard.md
shows the plans at ten million payments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Interval,
    Table,
    and_,
    cast,
    exists,
    func,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from adapters.sql.tables import (
    analytics_dirty_hours,
    analytics_hourly_attempts,
    analytics_hourly_declines,
    analytics_hourly_money,
    analytics_rollup_merchants,
    ledger_entries,
    payment_attempts,
)
from core.analytics.model import (
    HOUR,
    PAYMENT_ACTIVITY,
    STEP,
    AnalyticsRange,
    AttemptCounts,
    MoneyTotals,
    RawAnalytics,
    whole_hours,
)

ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


class SqlPaymentAnalytics:
    def __init__(self, connection: Any, *, direct: bool = False) -> None:
        """`direct`: from the raw tables only, the rollup's reference (tests, benchmark)."""
        self._conn: AsyncConnection = connection
        self._queries = DIRECT_QUERIES if direct else QUERIES

    async def read(self, span: AnalyticsRange) -> RawAnalytics:
        attempts, money, reasons = [
            (await self._conn.execute(build(span))).all() for _, build in self._queries
        ]
        return RawAnalytics(
            attempts=[
                AttemptCounts(row.bucket, row.succeeded, row.failed)
                for row in attempts
                if row.succeeded or row.failed
            ],
            money=[
                MoneyTotals(row.bucket, row.bt_type, int(row.amount), int(row.fee), int(row.net))
                for row in money
            ],
            decline_reasons=[(row.reason, int(row._mapping["count"])) for row in reasons],
        )


def _bucket(column: Any, span: AnalyticsRange) -> ColumnElement[datetime]:
    return func.date_bin(
        literal(STEP[span.interval], Interval()),
        column,
        literal(ORIGIN, TIMESTAMP(timezone=True)),
    ).label("bucket")


def _attempts_in(span: AnalyticsRange) -> ColumnElement[bool]:
    a = payment_attempts.c
    return and_(
        a.merchant_id == span.merchant_id,
        a.livemode == span.livemode,
        a.currency == span.currency,
        a.created >= span.start,
        a.created < span.end,
    )


def attempts_query(span: AnalyticsRange) -> Select[datetime, int, int]:
    a = payment_attempts.c
    bucket = _bucket(a.created, span)
    authorized = and_(a.status != "FAILED", a.amount_authorized > 0)
    return (
        select(
            bucket,
            func.count().filter(authorized).label("succeeded"),
            func.count().filter(a.status == "FAILED").label("failed"),
        )
        .where(_attempts_in(span))
        .group_by(bucket)
    )


def money_query(span: AnalyticsRange) -> Select[Any]:
    e = ledger_entries.c
    bucket = _bucket(e.created, span)
    return (
        select(
            bucket,
            e.bt_type,
            func.sum(e.bt_amount).label("amount"),
            func.sum(e.bt_fee).label("fee"),
            func.sum(e.bt_net).label("net"),
        )
        .where(
            e.merchant_id == span.merchant_id,
            e.livemode == span.livemode,
            e.bt_currency == span.currency,
            e.bt_type.is_not(None),  # the partial index's predicate
            e.bt_type.in_(PAYMENT_ACTIVITY),
            e.created >= span.start,
            e.created < span.end,
        )
        .group_by(bucket, e.bt_type)
    )


def decline_reasons_query(span: AnalyticsRange) -> Select[Any, int]:
    a = payment_attempts.c
    reason = func.coalesce(func.nullif(a.decline_code, ""), literal("unknown")).label("reason")
    return (
        select(reason, func.count().label("count"))
        .where(_attempts_in(span), a.status == "FAILED")
        .group_by(reason)
    )


# The rollup's share of a read: the range's whole hours when the merchant's rollup is
# built, but for the hours listed dirty for the range's key. The raw share is the rest:
# the partial hours at the ends, each dirty hour, or all the whole hours when the rollup
# is not built yet; one index range scan each. No list of the range's hours is made:
# the plan's row estimates stay those of the few intervals, so its cost stays under
# jit_above_cost (a generate_series of 720 hours made it look like millions of rows
# and compiled the plan, 1.5 s, for 20 ms of work).


def _total(column: Any) -> ColumnElement[int]:
    return cast(func.sum(column), BigInteger)


def _timestamp(at: datetime) -> ColumnElement[datetime]:
    return literal(at, TIMESTAMP(timezone=True))


@dataclass(frozen=True)
class _Split:
    dirty: CTE  # the distinct dirty hours of the range's key among its whole hours
    built: ColumnElement[bool]


def _split(span: AnalyticsRange) -> _Split:
    first, last = whole_hours(span.start, span.end)
    d = analytics_dirty_hours.c
    dirty = (
        select(d.hour)
        .distinct()
        .where(
            d.merchant_id == span.merchant_id,
            d.livemode == span.livemode,
            d.currency == span.currency,
            d.hour >= first,
            d.hour < last,
        )
        .cte("dirty")
    )
    built = exists(select(1).where(analytics_rollup_merchants.c.merchant_id == span.merchant_id))
    return _Split(dirty, built)


def _raw_share(
    span: AnalyticsRange, query: Select[*tuple[Any, ...]], created: Any, split: _Split
) -> Select[*tuple[Any, ...]]:
    """`query` over each interval the rollup does not serve, as a LATERAL subquery: one
    range scan of its index per interval, the plan even a prepared statement's generic
    plan (chosen after five runs, with no bounds known) has to keep."""
    first, last = whole_hours(span.start, span.end)
    hour = split.dirty.c.hour
    intervals = union_all(
        select(_timestamp(span.start).label("lo"), _timestamp(first).label("hi")),
        select(_timestamp(last), _timestamp(span.end)),
        select(_timestamp(first), _timestamp(last)).where(~split.built),
        select(hour, hour + literal(HOUR, Interval())).where(split.built),
    ).cte("raw_intervals")
    per_interval = query.where(created >= intervals.c.lo, created < intervals.c.hi).lateral("raw")
    return select(*per_interval.c).select_from(intervals.join(per_interval, true()))


def _rolled(rollup: Table, span: AnalyticsRange, split: _Split) -> Any:
    r = rollup.c
    first, last = whole_hours(span.start, span.end)
    return and_(
        split.built,
        r.merchant_id == span.merchant_id,
        r.livemode == span.livemode,
        r.currency == span.currency,
        r.hour >= first,
        r.hour < last,
        r.hour.not_in(select(split.dirty.c.hour)),
    )


def rollup_attempts_query(span: AnalyticsRange) -> Select[Any]:
    split, r = _split(span), analytics_hourly_attempts.c
    both = union_all(
        _raw_share(span, attempts_query(span), payment_attempts.c.created, split),
        select(_bucket(r.hour, span), r.succeeded, r.failed).where(
            _rolled(analytics_hourly_attempts, span, split)
        ),
    ).subquery()
    return select(
        both.c.bucket,
        _total(both.c.succeeded).label("succeeded"),
        _total(both.c.failed).label("failed"),
    ).group_by(both.c.bucket)


def rollup_money_query(span: AnalyticsRange) -> Select[Any]:
    split, r = _split(span), analytics_hourly_money.c
    both = union_all(
        _raw_share(span, money_query(span), ledger_entries.c.created, split),
        select(_bucket(r.hour, span), r.type, r.amount, r.fee, r.net).where(
            _rolled(analytics_hourly_money, span, split)
        ),
    ).subquery()
    return select(
        both.c.bucket,
        both.c.bt_type,
        _total(both.c.amount).label("amount"),
        _total(both.c.fee).label("fee"),
        _total(both.c.net).label("net"),
    ).group_by(both.c.bucket, both.c.bt_type)


def rollup_decline_reasons_query(span: AnalyticsRange) -> Select[Any]:
    split, r = _split(span), analytics_hourly_declines.c
    both = union_all(
        _raw_share(span, decline_reasons_query(span), payment_attempts.c.created, split),
        select(r.reason, r.count).where(_rolled(analytics_hourly_declines, span, split)),
    ).subquery()
    return select(both.c.reason, _total(both.c.count).label("count")).group_by(both.c.reason)


Query = Callable[[AnalyticsRange], Select[*tuple[Any, ...]]]
DIRECT_QUERIES: tuple[tuple[str, Query], ...] = (
    ("attempts", attempts_query),
    ("money", money_query),
    ("decline_reasons", decline_reasons_query),
)
QUERIES: tuple[tuple[str, Query], ...] = (
    ("attempts", rollup_attempts_query),
    ("money", rollup_money_query),
    ("decline_reasons", rollup_decline_reasons_query),
)
