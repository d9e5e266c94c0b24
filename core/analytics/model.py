"""Payment analytics: what each figure counts, and the buckets of a range.

Two sources, each the system of record for what it tells (docs/dashboard.md):
- the payment attempts tell how many payments were tried and how they ended: an attempt
  counts as a payment once it has an outcome, as succeeded when the acquirer authorized
  it (captured, held or voided later) and as failed when it was declined or failed;
- the ledger's balance transactions tell the money: volume is what was captured
  (CHARGE), refunds and disputes what left again (REFUND, DISPUTE), fees what the gateway
  charged (the fee of those, plus standalone FEE ones), and net what the merchant kept.
  Payouts and adjustments move the balance but are not payment activity: left out.

Money is in minor units of the range's currency: the currency of the balance
transactions (the merchant's settlement currency for converted charges). Attempts count
under their charge currency. For a merchant that charges in its settlement currency (the
default) both are the same payments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Interval(StrEnum):
    HOUR = "HOUR"
    DAY = "DAY"


STEP = {Interval.HOUR: timedelta(hours=1), Interval.DAY: timedelta(days=1)}
# The longest range per bucket width: 744 hourly or 366 daily buckets at most.
MAX_SPAN = {Interval.HOUR: timedelta(days=31), Interval.DAY: timedelta(days=366)}
# Balance transaction types that are payment activity, and how each counts.
PAYMENT_ACTIVITY = ("CHARGE", "REFUND", "DISPUTE", "FEE")


@dataclass(frozen=True)
class AnalyticsRange:
    merchant_id: str
    currency: str
    start: datetime  # inclusive, on a bucket boundary
    end: datetime  # exclusive, on a bucket boundary
    interval: Interval
    livemode: bool = False  # the caller's mode: test and live figures never mix

    def bucket_starts(self) -> list[datetime]:
        step, at, starts = STEP[self.interval], self.start, []
        while at < self.end:
            starts.append(at)
            at += step
        return starts


HOUR = timedelta(hours=1)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def hour_of(at: datetime) -> datetime:
    """The start of the UTC hour `at` is in (whatever its offset: +05:30 too)."""
    return _EPOCH + ((at - _EPOCH) // HOUR) * HOUR


def whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[first, last): the whole UTC hours inside [start, end), which the hourly rollup
    can serve; [start, first) and [last, end) are what is left of partial hours (empty
    for a range on hour boundaries). first == last when no whole hour fits."""
    floor = hour_of(start)
    first = min(floor if floor == start else floor + HOUR, end)
    return first, max(hour_of(end), first)


def on_boundary(at: datetime, interval: Interval) -> bool:
    at = at.astimezone(UTC)
    if at.minute or at.second or at.microsecond:
        return False
    return interval is Interval.HOUR or at.hour == 0


@dataclass(frozen=True)
class AttemptCounts:
    """Attempts of one bucket that reached an outcome."""

    bucket: datetime
    succeeded: int
    failed: int


@dataclass(frozen=True)
class MoneyTotals:
    """Sums of one bucket's balance transactions of one type."""

    bucket: datetime
    type: str  # a BalanceTransactionType value in PAYMENT_ACTIVITY
    amount: int
    fee: int
    net: int


@dataclass(frozen=True)
class RawAnalytics:
    """What the database sums; the use-case shapes it (empty buckets, totals, rates)."""

    attempts: Sequence[AttemptCounts] = ()
    money: Sequence[MoneyTotals] = ()
    # (reason, count) of failed attempts in the range.
    decline_reasons: Sequence[tuple[str, int]] = ()


@dataclass(frozen=True)
class Figures:
    succeeded: int = 0
    failed: int = 0
    volume: int = 0
    refunds: int = 0
    disputes: int = 0
    fees: int = 0
    net: int = 0

    @property
    def payments(self) -> int:
        return self.succeeded + self.failed

    @property
    def success_rate(self) -> float:
        # A ratio of counts for charts, never money: a float is fine here.
        return self.succeeded / self.payments if self.payments else 0.0

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            succeeded=self.succeeded + other.succeeded,
            failed=self.failed + other.failed,
            volume=self.volume + other.volume,
            refunds=self.refunds + other.refunds,
            disputes=self.disputes + other.disputes,
            fees=self.fees + other.fees,
            net=self.net + other.net,
        )


def money_figures(row: MoneyTotals) -> Figures:
    """What one type's sums add to the figures: volume - refunds - disputes - fees = net."""
    match row.type:
        case "CHARGE":
            return Figures(volume=row.amount, fees=row.fee, net=row.net)
        case "REFUND":
            return Figures(refunds=-row.amount, fees=row.fee, net=row.net)
        case "DISPUTE":
            return Figures(disputes=-row.amount, fees=row.fee, net=row.net)
        case "FEE":  # a standalone fee is all amount (fee 0): charged to the merchant
            return Figures(fees=row.fee - row.amount, net=row.net)
    return Figures()


@dataclass(frozen=True)
class PaymentAnalytics:
    range: AnalyticsRange
    totals: Figures
    buckets: list[tuple[datetime, Figures]] = field(default_factory=list)
    decline_reasons: list[tuple[str, int]] = field(default_factory=list)


def assemble(span: AnalyticsRange, raw: RawAnalytics) -> PaymentAnalytics:
    """Every bucket of the range (empty ones too), their sum, and the decline reasons
    most frequent first."""
    by_bucket = {start: Figures() for start in span.bucket_starts()}
    for counts in raw.attempts:
        add = Figures(succeeded=counts.succeeded, failed=counts.failed)
        by_bucket[counts.bucket] = by_bucket[counts.bucket] + add
    for row in raw.money:
        by_bucket[row.bucket] = by_bucket[row.bucket] + money_figures(row)
    totals = sum(by_bucket.values(), Figures())
    reasons = sorted(raw.decline_reasons, key=lambda r: (-r[1], r[0]))
    return PaymentAnalytics(span, totals, sorted(by_bucket.items()), reasons)
