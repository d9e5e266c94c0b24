"""The analytics scenario: GetPaymentAnalytics' queries over a merchant with N payments.

    python -m tests.bench.analytics --payments 10000000 [--database-url URL]

Seeds N payments into a fresh database (or the one given): the measured merchant has
every SHARE-th payment (one large merchant, a tenth of the platform), the rest are spread
over OTHERS - OTHERS / SHARE smaller merchants (900) in the same tables and indexes.
PostgreSQL makes the rows itself from generate_series in batches of BATCH payments (one
transaction each; nothing crosses the wire): an intent, its attempt (9 in 10 captured,
the rest declined, by DECLINES: 4 in 10 generic_decline, 3 insufficient_funds, 2
expired_card, 1 incorrect_cvc) and, for each capture, its ledger entry with the CHARGE
balance transaction (2.9% + 30), one in 20 refunded in half; spread evenly over DAYS
days. The tables' secondary indexes and foreign keys are taken off for the load and put
back after it (tests/bench/bulk.py: built by one sort each, every key validated). Then
VACUUM ANALYZE, and the use-case (three queries) timed over a 30-day range in DAY
buckets and a 1-day range in HOUR buckets, each run REPEAT times (median printed), and
the EXPLAIN (ANALYZE, BUFFERS) of each query over the 30 days. No card data: the
attempts carry no card at all.

The queries are timed twice: straight from the raw tables (DIRECT_QUERIES, the figures
before the rollup) and as the use-case reads them (QUERIES: the hourly rollup for clean
whole hours, the raw tables for the rest). After seeding, the rollup is built as the
worker's first run builds it (adapters/sql/analytics_rollup.py), and that build is timed.
`--measure-only` measures a database seeded before: with `--build-rollup` it builds the
rollup first (a database seeded before migration 0018 has none), and `--seed-only`
seeds without measuring.

Not part of `make test`; its figures at ten million are in docs/dashboard.md.
tests/bench/test_analytics_bench.py runs it at a few thousand rows and checks the sums,
not the time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from adapters.sql.analytics import DIRECT_QUERIES, QUERIES, Query
from adapters.sql.analytics_rollup import build_merchants, roll_up
from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from core.access.model import Principal
from core.access.roles import Role
from core.analytics.model import AnalyticsRange, Interval
from core.analytics.use_cases import Analytics
from tests.bench.bulk import deferred

BATCH = 1_000_000
DAYS = 90
SHARE = 10  # the measured merchant has one payment in SHARE
OTHERS = 1_000  # the others: n % OTHERS (a multiple of SHARE), the nonzero ones mod SHARE
REPEAT = 5
TIMED = 20  # runs of each query on its own: enough CPU ticks to divide
BUILD_BATCH = 5  # merchants a rollup build transaction (the worker's ROLLUP_BUILD_BATCH)
START = datetime(2026, 1, 1, tzinfo=UTC)
MERCHANT = "acct_analyticsbench"
# A declined payment's code, by its rank among the merchant's declines modulo 10.
DECLINES = (
    ("generic_decline",) * 4
    + ("insufficient_funds",) * 3
    + ("expired_card",) * 2
    + ("incorrect_cvc",)
)
LOCAL_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Seeded:
    """What the seeded rows add up to, for checking the queries' answers."""

    payments: int
    succeeded: int
    volume: int
    refunds: int
    fees: int
    net: int


def asyncpg_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


def _fee(amount: int) -> int:
    return (amount * 29 + 500) // 1000 + 30  # 2.9% half up, + 30


def merchant_of(n: int) -> str:
    return MERCHANT if n % SHARE == 0 else f"{MERCHANT}_{n % OTHERS}"


def seeded_totals(payments: int) -> Seeded:
    """What the measured merchant's rows add up to, by the seeding rule, without the database."""
    totals = dict(payments=0, succeeded=0, volume=0, refunds=0, fees=0, net=0)
    for k in range((payments + SHARE - 1) // SHARE):  # its n = k * SHARE
        amount = 1_000 + (k % 97) * 100
        totals["payments"] += 1
        if k % 10 == 0:
            continue
        fee = _fee(amount)
        totals["succeeded"] += 1
        totals["volume"] += amount
        totals["fees"] += fee
        totals["net"] += amount - fee
        if k % 20 == 1:
            totals["refunds"] += amount // 2
            totals["net"] -= amount // 2
    return Seeded(**totals)


# The rows are made by PostgreSQL from generate_series: no row crosses the wire, so ten
# million payments seed at the speed of the server's inserts. $1, $2: the batch's first and
# last n; $3: SHARE; $4: the first payment's time; $5: microseconds between payments.
# n's merchant is the measured one when n % SHARE = 0, else the one of n % OTHERS; k,
# n's rank among its merchant's payments (n / SHARE or n / OTHERS), decides the amount,
# the outcome, the decline code and the refund, for every merchant alike.
_ROWS = f"""
    SELECT n, k,
           CASE WHEN n % $3::bigint = 0 THEN '{MERCHANT}'
                ELSE '{MERCHANT}_' || (n % {OTHERS}) END AS merchant,
           1000 + (k % 97) * 100 AS amount,
           k % 10 <> 0 AS ok,
           $4::timestamptz + (n * $5::bigint) * interval '1 microsecond' AS at,
           lpad(n::text, 12, '0') AS nid
    FROM generate_series($1::bigint, $2::bigint) AS n,
         LATERAL (SELECT CASE WHEN n % $3::bigint = 0 THEN n / $3::bigint
                              ELSE n / {OTHERS} END AS k) AS rank
"""

_SEED_INTENTS = f"""
    INSERT INTO payment_intents (
        id, merchant_id, amount, currency, status, capture_method, client_secret, livemode,
        created, payment_method_types, amount_received, attempts)
    SELECT 'pi_bench' || nid, merchant, amount, 'USD',
           CASE WHEN ok THEN 'SUCCEEDED' ELSE 'REQUIRES_PAYMENT_METHOD' END, 'AUTOMATIC',
           'pi_bench' || nid || '_secret', false, at, ARRAY['card'],
           CASE WHEN ok THEN amount ELSE 0 END, CASE WHEN ok THEN 1 ELSE 0 END
    FROM ({_ROWS}) AS r
"""

_SEED_ATTEMPTS = f"""
    INSERT INTO payment_attempts (
        id, merchant_id, payment_intent_id, amount, currency, status, payment_method_type,
        acquirer, error, decline_code, amount_authorized, amount_captured, created,
        updated_at)
    SELECT 'pa_bench' || nid, merchant, 'pi_bench' || nid, amount, 'USD',
           CASE WHEN ok THEN 'CAPTURED' ELSE 'FAILED' END, 'card', 'card_network_simulator',
           CASE WHEN ok THEN NULL ELSE jsonb_build_object(
               'code', 'card_declined', 'message', '', 'decline_code', decline) END,
           CASE WHEN ok THEN '' ELSE decline END,
           CASE WHEN ok THEN amount ELSE 0 END, CASE WHEN ok THEN amount ELSE 0 END, at, at
    FROM ({_ROWS}) AS r,
         LATERAL (SELECT (ARRAY{list(DECLINES)!r})[(k / 10) % 10 + 1] AS decline) AS d
"""

_SEED_ENTRIES = f"""
    INSERT INTO ledger_entries (
        id, merchant_id, kind, source, payment_intent_id, created, bt_type, bt_amount, bt_fee,
        bt_net, bt_currency, bt_available_on)
    SELECT 'txn_bench' || nid, merchant, 'CAPTURE', 'pa_bench' || nid, 'pi_bench' || nid,
           at, 'CHARGE', amount, fee, amount - fee, 'USD', at + interval '2 days'
    FROM ({_ROWS}) AS r, LATERAL (SELECT (amount * 29 + 500) / 1000 + 30 AS fee) AS f
    WHERE ok
    UNION ALL
    SELECT 'txn_benchr' || lpad(n::text, 11, '0'), merchant, 'REFUND', 're_bench' || nid,
           'pi_bench' || nid, at + interval '1 minute', 'REFUND', -(amount / 2), 0,
           -(amount / 2), 'USD', at + interval '1 minute'
    FROM ({_ROWS}) AS r
    WHERE k % 20 = 1
"""


async def seed(database_url: str, payments: int, *, days: int = DAYS) -> Seeded:
    """Seeds the rows; answers what the measured merchant's add up to."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    step_us = (timedelta(days=days) / max(payments, 1)) // timedelta(microseconds=1)
    try:
        await connection.executemany(
            "INSERT INTO merchants (id, name, created) VALUES ($1, 'Analytics bench', $2)",
            [(merchant, START) for merchant in sorted({merchant_of(n) for n in range(OTHERS)})],
        )
        async with deferred(connection, ["payment_intents", "payment_attempts", "ledger_entries"]):
            for first in range(0, payments, BATCH):
                last = min(first + BATCH, payments) - 1
                async with connection.transaction():
                    for statement in (_SEED_INTENTS, _SEED_ATTEMPTS, _SEED_ENTRIES):
                        await connection.execute(statement, first, last, SHARE, START, step_us)
        for table in ("payment_intents", "payment_attempts", "ledger_entries"):
            await connection.execute(f"VACUUM ANALYZE {table}")
    finally:
        await connection.close()
    return seeded_totals(payments)


def month(days: int = 30) -> AnalyticsRange:
    return AnalyticsRange(MERCHANT, "USD", START, START + timedelta(days=days), Interval.DAY)


async def run_analytics(database_url: str, span: AnalyticsRange) -> tuple[Any, list[float]]:
    """The use-case's answer for `span`, and the seconds of each of REPEAT runs."""
    engine = create_engine(database_url, pool_size=1)
    analytics = Analytics(SqlUnitOfWorkFactory(engine))
    merchant = Principal(span.merchant_id, False, "key_bench", Role.STAFF)
    timings, result = [], None
    try:
        for _ in range(REPEAT):
            started = time.perf_counter()
            result = await analytics.payments(
                merchant,
                currency=span.currency,
                start=span.start,
                end=span.end,
                interval=span.interval,
            )
            timings.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    return result, timings


def sql_and_params(query: Any, dialect: Any) -> tuple[str, list[Any]]:
    """A SQLAlchemy statement as asyncpg runs it: the text ($1, $2, ...) and its values."""
    compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    return compiled.string, [compiled.params[p] for p in compiled.positiontup or ()]


Queries = tuple[tuple[str, Query], ...]


async def build_rollup(database_url: str) -> float:
    """The worker's jobs until caught up: every merchant's rollup built (BUILD_BATCH a
    transaction), then every closed dirty hour summed; the wall seconds (on a shared
    machine only an upper bound: the builds' CPU is spread over the pool's backends)."""
    engine = create_engine(database_url, pool_size=2)
    try:
        started = time.perf_counter()
        while await build_merchants(engine, limit=BUILD_BATCH) == BUILD_BATCH:
            pass
        while await roll_up(engine, now=datetime.now(UTC), limit=500) == 500:
            pass
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def explain(
    database_url: str, span: AnalyticsRange, queries: Queries = QUERIES
) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of each query, as text, by query name."""
    engine = create_engine(database_url, pool_size=1)
    plans = {}
    try:
        async with engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            for name, build in queries:
                sql, params = sql_and_params(build(span), engine.dialect)
                rows = await raw.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", *params)
                plans[name] = "\n".join(r[0] for r in rows)
    finally:
        await engine.dispose()
    return plans


def _cpu_seconds(pid: int) -> float | None:
    """A local process's user + system CPU seconds (None when the server is not local)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def query_timings(
    database_url: str, span: AnalyticsRange, queries: Queries
) -> dict[str, tuple[list[float], float | None]]:
    """Each query on its own, TIMED times: the seconds of each run and the server
    backend's CPU seconds per run (a stable figure on a shared machine), by query name."""
    engine = create_engine(database_url, pool_size=1)
    timings: dict[str, tuple[list[float], float | None]] = {}
    try:
        async with engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            backend = await raw.fetchval("SELECT pg_backend_pid()")
            for name, build in queries:
                sql, params = sql_and_params(build(span), engine.dialect)
                await raw.fetch(sql, *params)  # planned and cached once, as a pool does
                seconds, cpu_before = [], _cpu_seconds(backend)
                for _ in range(TIMED):
                    started = time.perf_counter()
                    await raw.fetch(sql, *params)
                    seconds.append(time.perf_counter() - started)
                cpu_after = _cpu_seconds(backend)
                cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
                timings[name] = (seconds, None if cpu is None else cpu / TIMED)
    finally:
        await engine.dispose()
    return timings


def spans() -> list[tuple[str, AnalyticsRange]]:
    day = START + timedelta(days=15)
    small = merchant_of(1)  # one of the others: a thousandth of the platform
    return [
        ("30 days, DAY buckets", month()),
        ("1 day, HOUR buckets", AnalyticsRange(MERCHANT, "USD", day, day + timedelta(days=1),
                                               Interval.HOUR)),
        (f"30 days, DAY buckets, {small}", AnalyticsRange(small, "USD", START,
                                                          START + timedelta(days=30),
                                                          Interval.DAY)),
    ]  # fmt: skip


async def measure(url: str) -> None:
    for label, span in spans():
        result, timings = await run_analytics(url, span)
        print(
            f"{label}: use-case median {statistics.median(timings) * 1000:.1f} ms "
            f"(of {REPEAT}); {result.totals.payments} payments, volume {result.totals.volume}; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        for how, queries in (("raw", DIRECT_QUERIES), ("through the rollup", QUERIES)):
            per_query = await query_timings(url, span, queries)
            print(
                f"  {how}: "
                + ", ".join(
                    f"{name} {statistics.median(seconds) * 1000:.1f} ms"
                    + ("" if cpu is None else f" (server CPU {cpu * 1000:.1f} ms)")
                    for name, (seconds, cpu) in per_query.items()
                )
                + f"; load average {os.getloadavg()[0]:.1f}"
            )
    for how, queries in (("raw", DIRECT_QUERIES), ("through the rollup", QUERIES)):
        for name, plan in (await explain(url, month(), queries)).items():
            print(f"\n-- {name}, {how}\n{plan}")


async def report_build(url: str) -> None:
    seconds = await build_rollup(url)
    print(f"rollup built in {seconds:.1f} s; load average {os.getloadavg()[0]:.1f}")


async def main(
    payments: int, database_url: str, *, measure_only: bool, seed_only: bool, build: bool
) -> None:
    from tests.databases import fresh_database

    if measure_only:
        if build:
            await report_build(database_url)
        await measure(database_url)
        return
    admin = os.environ.get("PAYGATE_TEST_POSTGRES_URL", LOCAL_ADMIN)
    async with fresh_database(admin, "paygate_analytics_bench") as fresh:
        url = database_url or fresh
        started = time.monotonic()
        seeded = await seed(url, payments)
        print(
            f"seeded {payments} payments of {len({merchant_of(n) for n in range(OTHERS)})} "
            f"merchants in {time.monotonic() - started:.1f} s"
        )
        if not seed_only:
            await report_build(url)
            await measure(url)
        print(f"\nthe measured merchant's seeded totals (all {DAYS} days): {seeded}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--database-url", default="", help="seed here instead of a fresh db")
    parser.add_argument(
        "--measure-only", action="store_true", help="time the seeded --database-url again"
    )
    parser.add_argument(
        "--build-rollup", action="store_true", help="with --measure-only: build it first"
    )
    parser.add_argument("--seed-only", action="store_true", help="seed, measure nothing")
    arguments = parser.parse_args()
    if arguments.measure_only and not arguments.database_url:
        parser.error("--measure-only needs --database-url")
    if arguments.seed_only and not arguments.database_url:
        parser.error("--seed-only needs --database-url (a fresh database is dropped at exit)")
    asyncio.run(
        main(
            arguments.payments,
            arguments.database_url,
            measure_only=arguments.measure_only,
            seed_only=arguments.seed_only,
            build=arguments.build_rollup,
        )
    )
