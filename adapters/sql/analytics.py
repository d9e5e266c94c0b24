"""Payment analytics summed by PostgreSQL: three indexed aggregate queries per range.

- attempts per bucket: ix_payment_attempts_analytics (merchant_id, livemode, currency,
  created) INCLUDE (status, amount_authorized), an index-only scan;
- balance-transaction sums per bucket and type: ix_ledger_entries_analytics (merchant_id,
  livemode, bt_currency, created) INCLUDE (bt_type, bt_amount, bt_fee, bt_net), an
  index-only scan;
- decline reasons: ix_payment_attempts_failed (the same key, failed attempts only)
  INCLUDE (decline_code), an index-only scan.

Every query is of the caller's mode (`AnalyticsRange.livemode`).

Buckets are `date_bin(step, created, origin)` with the origin at midnight UTC, so a DAY
is a UTC calendar day. docs/dashboard.md shows the plans at ten million payments.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Interval, and_, func, literal, select
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from adapters.sql.tables import ledger_entries, payment_attempts
from core.analytics.model import (
    PAYMENT_ACTIVITY,
    STEP,
    AnalyticsRange,
    AttemptCounts,
    MoneyTotals,
    RawAnalytics,
)

ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


class SqlPaymentAnalytics:
    def __init__(self, connection: Any) -> None:
        self._conn: AsyncConnection = connection

    async def read(self, span: AnalyticsRange) -> RawAnalytics:
        attempts = (await self._conn.execute(attempts_query(span))).all()
        money = (await self._conn.execute(money_query(span))).all()
        reasons = (await self._conn.execute(decline_reasons_query(span))).all()
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
            decline_reasons=[(row.reason, row.count) for row in reasons],
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
