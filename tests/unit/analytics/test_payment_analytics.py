"""Payment analytics on the fakes: what each figure counts, the buckets, the range rules."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.access.model import Principal
from core.access.roles import Role
from core.analytics.model import (
    AnalyticsRange,
    AttemptCounts,
    Figures,
    Interval,
    MoneyTotals,
    RawAnalytics,
    assemble,
)
from core.shared.errors import InvalidArgument
from servers.bootstrap.app import App
from tests.fakes import EPOCH, FixedClock, in_memory_app
from tests.payment_history import APPROVED, make_history, pay

DAY = EPOCH.replace(hour=0)  # EPOCH is 12:00 UTC


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
async def app(clock: FixedClock) -> App:
    return in_memory_app(clock=clock)


async def test_the_figures_of_a_day_count_attempts_and_the_money_the_ledger_moved(
    app: App,
) -> None:
    history = await make_history(app)
    result = await app.analytics.payments(
        history.merchant,
        currency="usd",
        start=DAY,
        end=DAY + timedelta(days=1),
        interval=Interval.DAY,
    )
    totals = result.totals
    assert (totals.payments, totals.succeeded, totals.failed) == (5, 3, 2)
    assert totals.success_rate == pytest.approx(0.6)
    assert totals.volume == history.captured == 17_500
    assert totals.refunds == history.refunded == 3_000
    assert totals.disputes == 5_000
    # Default pricing: 2.9% + 30 per capture, kept on refunds; a 1500 dispute fee.
    capture_fees = (290 + 30) + (73 + 30) + (145 + 30)
    assert totals.fees == capture_fees + 1_500
    assert totals.net == totals.volume - totals.refunds - totals.disputes - totals.fees
    assert result.decline_reasons == [("generic_decline", 1), ("insufficient_funds", 1)]
    assert [start for start, _ in result.buckets] == [DAY]


async def test_hour_buckets_cover_the_range_with_empty_ones_included(
    app: App, clock: FixedClock
) -> None:
    seeded = await app.api_keys.seed_merchant("Hourly")
    merchant = Principal(seeded.merchant.id, False, seeded.secret_key.key.id, Role.ADMIN)
    await pay(app, merchant, 1_000, APPROVED)  # 12:00
    clock.advance(hours=2, minutes=30)
    await pay(app, merchant, 2_000, APPROVED)  # 14:30
    result = await app.analytics.payments(
        merchant,
        currency="USD",
        start=DAY + timedelta(hours=11),
        end=DAY + timedelta(hours=16),
        interval=Interval.HOUR,
    )
    volumes = [(start.hour, f.volume, f.payments) for start, f in result.buckets]
    assert volumes == [(11, 0, 0), (12, 1_000, 1), (13, 0, 0), (14, 2_000, 1), (15, 0, 0)]
    assert result.totals.volume == 3_000


async def test_another_currency_and_another_merchant_are_not_counted(app: App) -> None:
    history = await make_history(app)
    other = await make_history(app, "Someone else")
    await pay(app, history.merchant, 700, APPROVED, currency="USD")
    eur = await app.analytics.payments(
        history.merchant, currency="EUR", start=DAY, end=DAY + timedelta(days=1), interval=None
    )
    assert eur.totals == Figures()
    usd = await app.analytics.payments(
        other.merchant, currency="USD", start=DAY, end=DAY + timedelta(days=1), interval=None
    )
    assert usd.totals.volume == other.captured


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"currency": ""}, "currency"),
        ({"currency": "XXX"}, "currency"),
        ({"start": None}, "start"),
        ({"end": None}, "end"),
        ({"start": DAY + timedelta(hours=1)}, "start"),  # not midnight for DAY
        ({"end": DAY}, "end"),  # not after start
        ({"end": DAY + timedelta(days=367)}, "end"),  # too long
        ({"interval": Interval.HOUR, "end": DAY + timedelta(days=32)}, "end"),
        ({"interval": Interval.HOUR, "start": DAY + timedelta(minutes=30)}, "start"),
    ],
)
async def test_a_bad_range_is_invalid_argument_naming_the_field(
    app: App, fields: dict[str, object], bad: str
) -> None:
    merchant = Principal("acct_x", False, "key_x", Role.STAFF)
    request: dict[str, object] = {
        "currency": "usd",
        "start": DAY,
        "end": DAY + timedelta(days=1),
        "interval": Interval.DAY,
    }
    with pytest.raises(InvalidArgument) as raised:
        await app.analytics.payments(merchant, **{**request, **fields})  # type: ignore[arg-type]
    assert raised.value.metadata["param"] == bad


def test_net_is_volume_less_refunds_disputes_and_fees_whatever_the_mix() -> None:
    day: datetime = DAY
    span = AnalyticsRange("acct_x", "USD", day, day + timedelta(days=2), Interval.DAY)
    raw = RawAnalytics(
        attempts=[AttemptCounts(day, succeeded=2, failed=1)],
        money=[
            MoneyTotals(day, "CHARGE", amount=5_000, fee=175, net=4_825),
            MoneyTotals(day, "REFUND", amount=-1_000, fee=0, net=-1_000),
            MoneyTotals(day + timedelta(days=1), "DISPUTE", amount=-2_000, fee=1_500, net=-3_500),
            MoneyTotals(day + timedelta(days=1), "REFUND", amount=400, fee=0, net=400),  # failed
            MoneyTotals(day + timedelta(days=1), "FEE", amount=-50, fee=0, net=-50),
        ],
        decline_reasons=[("expired_card", 1), ("generic_decline", 4)],
    )
    result = assemble(span, raw)
    t = result.totals
    assert (t.volume, t.refunds, t.disputes, t.fees) == (5_000, 600, 2_000, 1_725)
    assert t.net == 4_825 - 1_000 - 3_500 + 400 - 50 == t.volume - t.refunds - t.disputes - t.fees
    assert [f.net for _, f in result.buckets] == [3_825, -3_150]
    assert result.decline_reasons == [("generic_decline", 4), ("expired_card", 1)]
