"""The hourly analytics rollup on PostgreSQL: a read through it says exactly what the raw
tables say, whatever the traffic, the range and the changes that came after an hour was
summed (a late outcome, a refund posted later, a worker that ran in between).

The fake unit of work has no rollup (its analytics read the rows themselves); the range
arithmetic the rollup relies on is tested on its own in tests/unit/analytics."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.analytics import SqlPaymentAnalytics
from adapters.sql.analytics_rollup import ROLLUP_LOCK_KEY, build_merchants, roll_up
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from core.access.model import Principal
from core.access.roles import Role
from core.analytics.model import AnalyticsRange, Interval, RawAnalytics, assemble
from core.analytics.use_cases import Analytics

H0 = datetime(2026, 3, 1, tzinfo=UTC)
HOURS = 8  # the traffic's span
BATCH = 7  # small refresh batches: several transactions per run
_serial = itertools.count()


def normalized(raw: RawAnalytics) -> tuple[Any, ...]:
    """The sums, in an order of their own (the queries' rows come in any order)."""
    return (
        sorted((c.bucket, c.succeeded, c.failed) for c in raw.attempts),
        sorted((m.bucket, m.type, m.amount, m.fee, m.net) for m in raw.money),
        sorted(raw.decline_reasons),
    )


async def both(engine: AsyncEngine, span: AnalyticsRange) -> tuple[Any, Any]:
    async with engine.connect() as connection:
        through = await SqlPaymentAnalytics(connection).read(span)
        direct = await SqlPaymentAnalytics(connection, direct=True).read(span)
    return normalized(through), normalized(direct)


async def catch_up(engine: AsyncEngine, now: datetime) -> None:
    """The worker's two jobs until their batches come back short."""
    while await build_merchants(engine, limit=2) == 2:
        pass
    while await roll_up(engine, now=now, limit=BATCH) == BATCH:
        pass


# -- the traffic ----------------------------------------------------------------------

OUTCOMES = ("FAILED", "AUTHORIZED", "CAPTURED", "VOIDED", "PROCESSING", "REQUIRES_ACTION")
CODES = ("", "generic_decline", "insufficient_funds", "expired_card")
TYPES = ("CHARGE", "REFUND", "DISPUTE", "FEE", "PAYOUT", "ADJUSTMENT")


@dataclass(frozen=True)
class Attempt:
    minute: int  # after H0
    livemode: bool
    status: str
    code: str
    currency: str


@dataclass(frozen=True)
class Entry:
    minute: int
    livemode: bool
    type: str
    amount: int
    fee: int
    currency: str


@dataclass(frozen=True)
class Change:
    """A late outcome: the attempt of this rank (modulo their count) ends so."""

    rank: int
    status: str
    code: str


@dataclass(frozen=True)
class Worker:
    """The worker runs at this minute after H0."""

    minute: int


minutes = st.integers(0, HOURS * 60 - 1)
modes = st.booleans()
currencies = st.sampled_from(("USD", "EUR"))
attempts = st.builds(
    Attempt, minutes, modes, st.sampled_from(OUTCOMES), st.sampled_from(CODES), currencies
)
entries = st.builds(
    Entry, minutes, modes, st.sampled_from(TYPES), st.integers(-5_000, 5_000),
    st.integers(0, 300), currencies,
)  # fmt: skip
changes = st.builds(Change, st.integers(0, 1000), st.sampled_from(OUTCOMES), st.sampled_from(CODES))
workers = st.builds(Worker, st.integers(0, (HOURS + 2) * 60))
steps = st.lists(st.one_of(attempts, attempts, entries, changes, workers), max_size=40)
late_steps = st.lists(st.one_of(attempts, entries, changes, changes), min_size=1, max_size=10)

# Offsets a caller's times may carry (the API takes RFC 3339 with any offset).
ZONES = (UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-3, minutes=-30)),
         timezone(timedelta(hours=5, minutes=45)), timezone(timedelta(hours=14)))  # fmt: skip


@st.composite
def ranges(draw: st.DrawFn) -> tuple[datetime, datetime, Interval, bool]:
    """Any start and end around the traffic, mid-hour ones too, in any offset."""
    start = H0 + timedelta(minutes=draw(st.integers(-90, HOURS * 60 + 30)))
    length = timedelta(minutes=draw(st.integers(1, (HOURS + 3) * 60)))
    zone = draw(st.sampled_from(ZONES))
    interval = draw(st.sampled_from(Interval))
    return start.astimezone(zone), (start + length).astimezone(zone), interval, draw(modes)


class Traffic:
    """Writes the steps' rows as the payment path and the ledger would leave them."""

    def __init__(self, engine: AsyncEngine, merchant: str) -> None:
        self.engine, self.merchant = engine, merchant
        self.attempts: list[str] = []

    async def add_attempt(self, a: Attempt) -> None:
        n = f"{self.merchant}_{next(_serial)}"
        authorized = 1000 if a.status in ("AUTHORIZED", "CAPTURED", "VOIDED") else 0
        at = H0 + timedelta(minutes=a.minute, seconds=17)
        async with self.engine.begin() as c:
            await c.execute(
                text(
                    "INSERT INTO payment_intents (id, merchant_id, amount, currency, status, "
                    "capture_method, client_secret, livemode, created, payment_method_types) "
                    "VALUES (:pi, :m, 1000, :cur, 'PROCESSING', 'AUTOMATIC', :pi || '_s', "
                    ":live, :at, ARRAY['card'])"
                ),
                {"pi": f"pi_{n}", "m": self.merchant, "cur": a.currency,
                 "live": a.livemode, "at": at},
            )  # fmt: skip
            await c.execute(
                text(
                    "INSERT INTO payment_attempts (id, merchant_id, payment_intent_id, amount, "
                    "currency, status, payment_method_type, acquirer, decline_code, "
                    "amount_authorized, created, updated_at, livemode) VALUES (:pa, :m, :pi, "
                    "1000, :cur, :status, 'card', 'sim', :code, :auth, :at, :at, :live)"
                ),
                {"pa": f"pa_{n}", "pi": f"pi_{n}", "m": self.merchant, "cur": a.currency,
                 "status": a.status, "code": a.code if a.status == "FAILED" else "",
                 "auth": authorized, "at": at, "live": a.livemode},
            )  # fmt: skip
        self.attempts.append(f"pa_{n}")

    async def change(self, change: Change) -> None:
        if not self.attempts:
            return
        authorized = 1000 if change.status in ("AUTHORIZED", "CAPTURED", "VOIDED") else 0
        async with self.engine.begin() as c:
            await c.execute(
                text(
                    "UPDATE payment_attempts SET status = :status, decline_code = :code, "
                    "amount_authorized = :auth WHERE id = :id"
                ),
                {"id": self.attempts[change.rank % len(self.attempts)], "status": change.status,
                 "code": change.code if change.status == "FAILED" else "", "auth": authorized},
            )  # fmt: skip

    async def add_entry(self, e: Entry) -> None:
        n = f"{self.merchant}_{next(_serial)}"
        async with self.engine.begin() as c:
            await c.execute(
                text(
                    "INSERT INTO ledger_entries (id, merchant_id, kind, source, created, "
                    "bt_type, bt_amount, bt_fee, bt_net, bt_currency, bt_available_on, "
                    "livemode) VALUES (:id, :m, 'CAPTURE', :id, :at, :type, :amount, :fee, "
                    ":net, :cur, :at, :live)"
                ),
                {"id": f"txn_{n}", "m": self.merchant,
                 "at": H0 + timedelta(minutes=e.minute, seconds=41), "type": e.type,
                 "amount": e.amount, "fee": e.fee, "net": e.amount - e.fee,
                 "cur": e.currency, "live": e.livemode},
            )  # fmt: skip

    async def play(self, step: Any) -> None:
        match step:
            case Attempt():
                await self.add_attempt(step)
            case Entry():
                await self.add_entry(step)
            case Change():
                await self.change(step)
            case Worker(minute):
                await catch_up(self.engine, H0 + timedelta(minutes=minute))


async def new_merchant(engine: AsyncEngine) -> str:
    merchant = f"acct_rollup{next(_serial)}_{id(engine) % 10_000}"
    async with engine.begin() as c:
        await c.execute(
            text("INSERT INTO merchants (id, name, created) VALUES (:m, 'Rollup', :at)"),
            {"m": merchant, "at": H0},
        )
    return merchant


# -- the properties -------------------------------------------------------------------


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=steps,
    worker=workers,
    late=late_steps,
    spans=st.lists(ranges(), min_size=1, max_size=6),
    last=st.booleans(),
)
async def test_a_read_through_the_rollup_equals_the_raw_tables(
    engine: AsyncEngine,
    steps: list[Any],
    worker: Worker,
    late: list[Any],
    spans: list[Any],
    last: bool,
) -> None:
    """Traffic with the worker running in between, a run, then late traffic (outcomes
    changing, refunds posted, new attempts in hours already summed), and perhaps a last
    run: every range reads the same through the rollup as from the raw tables."""
    traffic = Traffic(engine, await new_merchant(engine))
    for step in [*steps, worker, *late]:
        await traffic.play(step)
    if last:  # caught up, or with the late changes still only marked
        await catch_up(engine, H0 + timedelta(hours=HOURS + 1))
    for start, end, interval, livemode in spans:
        for currency in ("USD", "EUR"):
            span = AnalyticsRange(traffic.merchant, currency, start, end, interval, livemode)
            through, direct = await both(engine, span)
            assert through == direct, span


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps, hours=st.integers(1, HOURS + 2), offset=st.sampled_from(ZONES),
       interval=st.sampled_from(Interval), livemode=modes)  # fmt: skip
async def test_the_use_case_answers_the_same_through_the_rollup(
    engine: AsyncEngine,
    uow_factory: SqlUnitOfWorkFactory,
    steps: list[Any],
    hours: int,
    offset: timezone,
    interval: Interval,
    livemode: bool,
) -> None:
    """GetPaymentAnalytics' own ranges (on UTC boundaries, given in any offset): the
    answer through the rollup is the one assembled from the raw tables alone."""
    traffic = Traffic(engine, await new_merchant(engine))
    for step in [*steps, Worker(HOURS * 60 + 60)]:
        await traffic.play(step)
    await traffic.play(Change(0, "FAILED", "expired_card"))  # after the last run
    days = 1 if interval is Interval.DAY else 0
    start = (H0 - timedelta(days=days)).astimezone(offset)
    end = start + (timedelta(days=2) if days else timedelta(hours=hours))
    caller = Principal(traffic.merchant, livemode, "key_rollup", Role.STAFF)
    for currency in ("USD", "EUR"):
        answer = await Analytics(uow_factory).payments(
            caller, currency=currency, start=start, end=end, interval=interval
        )
        span = AnalyticsRange(traffic.merchant, currency, start.astimezone(UTC),
                              end.astimezone(UTC), interval, livemode)  # fmt: skip
        async with engine.connect() as connection:
            direct = await SqlPaymentAnalytics(connection, direct=True).read(span)
        assert answer == assemble(span, direct)


async def test_a_late_outcome_is_read_raw_until_the_worker_sums_its_hour_again(
    engine: AsyncEngine,
) -> None:
    traffic = Traffic(engine, await new_merchant(engine))
    await traffic.add_attempt(Attempt(30, False, "REQUIRES_ACTION", "", "USD"))  # 3-D Secure
    await traffic.add_attempt(Attempt(40, False, "AUTHORIZED", "", "USD"))
    await catch_up(engine, H0 + timedelta(hours=2))
    span = AnalyticsRange(traffic.merchant, "USD", H0, H0 + timedelta(hours=2), Interval.HOUR)
    assert (await both(engine, span))[0][0] == [(H0, 1, 0)]
    await traffic.change(Change(0, "FAILED", "generic_decline"))  # the payer gave up
    dirty = text("SELECT count(*) FROM analytics_dirty_hours WHERE merchant_id = :m")
    async with engine.connect() as c:
        assert await c.scalar(dirty, {"m": traffic.merchant}) == 1
    through, direct = await both(engine, span)
    assert through == direct and through[0] == [(H0, 1, 1)]
    await catch_up(engine, H0 + timedelta(hours=2))
    async with engine.connect() as c:
        assert await c.scalar(dirty, {"m": traffic.merchant}) == 0
        summed = await c.execute(
            text("SELECT succeeded, failed FROM analytics_hourly_attempts WHERE merchant_id = :m"),
            {"m": traffic.merchant},
        )
        assert summed.all() == [(1, 1)]
    assert (await both(engine, span))[0] == through


async def test_the_open_hour_is_not_summed_until_it_closes(engine: AsyncEngine) -> None:
    traffic = Traffic(engine, await new_merchant(engine))
    await catch_up(engine, H0)  # its rollup built while it had no payments
    await traffic.add_attempt(Attempt(90, True, "CAPTURED", "", "EUR"))
    await catch_up(engine, H0 + timedelta(minutes=100))  # hour 1 is still open
    rows = text("SELECT count(*) FROM analytics_hourly_attempts WHERE merchant_id = :m")
    async with engine.connect() as c:
        assert await c.scalar(rows, {"m": traffic.merchant}) == 0
    await catch_up(engine, H0 + timedelta(minutes=120))
    async with engine.connect() as c:
        assert await c.scalar(rows, {"m": traffic.merchant}) == 1


async def test_two_workers_at_once_sum_each_hour_once(engine: AsyncEngine) -> None:
    traffic = Traffic(engine, await new_merchant(engine))
    for minute in range(0, 6 * 60, 20):
        await traffic.add_attempt(Attempt(minute, False, "CAPTURED", "", "USD"))
        await traffic.add_entry(Entry(minute, False, "CHARGE", 1000, 59, "USD"))
    now = H0 + timedelta(hours=7)
    for job in (build_merchants(engine, limit=1000), roll_up(engine, now=now, limit=1000)):
        await asyncio.gather(job, *(roll_up(engine, now=now, limit=3) for _ in range(2)))
    await catch_up(engine, now)  # whichever skipped, nothing is left
    span = AnalyticsRange(traffic.merchant, "USD", H0, H0 + timedelta(hours=6), Interval.HOUR)
    through, direct = await both(engine, span)
    assert through == direct and sum(count for _, count, _ in through[0]) == 18
    async with engine.connect() as c:
        hours = await c.scalar(
            text("SELECT count(*) FROM analytics_hourly_money WHERE merchant_id = :m"),
            {"m": traffic.merchant},
        )
    assert hours == 6


async def test_a_worker_that_holds_the_lock_keeps_the_others_out(engine: AsyncEngine) -> None:
    traffic = Traffic(engine, await new_merchant(engine))
    await traffic.add_attempt(Attempt(5, False, "FAILED", "expired_card", "USD"))
    async with engine.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ROLLUP_LOCK_KEY})
        assert await roll_up(engine, now=H0 + timedelta(hours=3), limit=1000) == 0
        assert await build_merchants(engine, limit=1000) == 0
        await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ROLLUP_LOCK_KEY})
    await catch_up(engine, H0 + timedelta(hours=3))
    async with engine.connect() as c:
        summed = await c.execute(
            text("SELECT reason, count FROM analytics_hourly_declines WHERE merchant_id = :m"),
            {"m": traffic.merchant},
        )
        assert summed.all() == [("expired_card", 1)]


async def test_a_run_that_dies_midway_leaves_nothing_half_written(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a SIGKILL would: the transaction is rolled back, marks and rollup as before."""
    import adapters.sql.analytics_rollup as rollup

    traffic = Traffic(engine, await new_merchant(engine))
    await traffic.add_attempt(Attempt(5, False, "CAPTURED", "", "USD"))
    await traffic.add_entry(Entry(6, False, "CHARGE", 1000, 59, "USD"))
    broken = dict(rollup._SUMS)
    broken["analytics_hourly_declines"] = "SELECT 1 / 0 FROM {attempts} true"  # the last step
    monkeypatch.setattr(rollup, "_SUMS", broken)
    count = text(
        "SELECT (SELECT count(*) FROM analytics_dirty_hours WHERE merchant_id = :m), "
        "(SELECT count(*) FROM analytics_hourly_money WHERE merchant_id = :m)"
    )
    async with engine.connect() as c:
        before = (await c.execute(count, {"m": traffic.merchant})).one()
    with pytest.raises(Exception, match="division by zero"):
        await build_merchants(engine, limit=1000)
    async with engine.connect() as c:
        assert (await c.execute(count, {"m": traffic.merchant})).one() == before
    monkeypatch.undo()
    await catch_up(engine, H0 + timedelta(hours=2))
    span = AnalyticsRange(traffic.merchant, "USD", H0, H0 + timedelta(hours=1), Interval.HOUR)
    through, direct = await both(engine, span)
    assert through == direct and through[1] == [(H0, "CHARGE", 1000, 59, 941)]


async def test_the_worker_keeps_the_rollup_with_its_two_jobs(engine: AsyncEngine) -> None:
    from types import SimpleNamespace

    from servers.roles.worker.jobs import analytics_jobs

    assert analytics_jobs(SimpleNamespace(engine=None)) == []  # type: ignore[arg-type]
    jobs = {job.name: job for job in analytics_jobs(SimpleNamespace(engine=engine))}  # type: ignore[arg-type]
    assert set(jobs) == {"analytics.rollup_build", "analytics.rollup"}
    assert all(job.every <= 60 for job in jobs.values())
    traffic = Traffic(engine, await new_merchant(engine))
    await traffic.add_attempt(Attempt(10, True, "FAILED", "insufficient_funds", "USD"))
    now = H0 + timedelta(hours=1)
    for name in ("analytics.rollup_build", "analytics.rollup"):
        while await jobs[name].run(now, jobs[name].batch) == jobs[name].batch:
            pass
    await traffic.change(Change(0, "AUTHORIZED", ""))  # a late approval
    while await jobs["analytics.rollup"].run(now, jobs["analytics.rollup"].batch):
        pass
    async with engine.connect() as c:
        summed = await c.execute(
            text("SELECT succeeded, failed FROM analytics_hourly_attempts WHERE merchant_id = :m"),
            {"m": traffic.merchant},
        )
        assert summed.all() == [(1, 0)]
