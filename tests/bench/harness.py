"""`make bench`: paygate's throughput and latency next to the physical limit of this machine.

    python -m tests.bench [--quick] [--scenarios a,b] [--duration S] [--out DIR]
    python -m tests.bench --url http://127.0.0.1:8080 --grpc 127.0.0.1:50051 \
        --secret-key sk_test_... --publishable-key pk_test_... [--database-url URL]
    python -m tests.bench capture-sql      rewrite tests/bench/payment.sql (see capture.py)
    python -m tests.bench table RESULTS    the results as docs/performance.md's tables
    python -m tests.bench compare RESULTS...   embedded against split runs (--topology)

Without --url it starts the gateway as `make run` does (embedded PostgreSQL, two API
processes, Envoy, the simulated acquirer at zero latency) on free loopback ports with its
own data folder, and raises the bench merchants' rate limits with `paygate limits set`.
With --topology split the cardholder-data zone (the vault role: the vault and the
connectors) runs in a process of its own (PAYGATE_VAULT_PROCESSES=1), as the API
processes then reach it over gRPC and Envoy sends it POST /v1/tokens. With --topology
both it starts the two at once and measures their peaks in alternating rounds (--rounds;
tests/bench/alternate.py), which pairs the runs that the extra hop's budget compares.
Every scenario is bounded in time (--duration) and in count (--max-ops), and talks to
loopback only. Load: wrk (Debian's package) with tests/bench/rest.lua for REST, several
Python processes for native gRPC (grpc_load.py); pgbench for the database references.

For each scenario it prints and stores (tests/bench/results/<time>.json): throughput,
p50/p99 latency, CPU milliseconds per operation for each process kind (api, vault,
envoy, postgres, launcher, loadgen, other) and of the gateway's processes summed (all
but the load generator), transactions, commits and WAL flushes per operation
(pg_stat_database, pg_stat_wal), and the ratio to the references of the same run.
No test asserts on these figures: tests/bench/test_harness.py only checks the shape.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.bench import measure, tail
from tests.bench.measure import Processes
from tests.e2e.conftest import free_port_range, free_ports

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RESULTS = HERE / "results"
LUA = HERE / "rest.lua"
PAYMENT_SQL = HERE / "payment.sql"
# `paygate`, as the operator runs it.
PAYGATE = [sys.executable, "-m", "servers.cli"]

# What the bench merchants may do: far above any rate this machine reaches, so that the
# scenarios measure the gateway, not the limiter (except `overload`, which sets its own).
UNLIMITED = ("1000000/second",)
LIMITED_CLASSES = ("payments_create", "default")
API_PROCESSES = 2  # as `make run` starts them
IDLE_S = 15.0  # seconds of no load over which each process kind's idle CPU is measured


@dataclass
class Merchant:
    id: str
    secret_key: str
    publishable_key: str


@dataclass
class Target:
    rest_url: str
    grpc_target: str
    merchants: list[Merchant]
    database_url: str = ""  # SQLAlchemy URL; "" when unknown (no database counters)
    processes: Processes | None = None
    # CPU ms per second of each process kind with no load (measure.idle_cpu), once.
    idle_cpu: dict[str, float] | None = None
    pg_socket_dir: str = ""
    stop: Any = None
    # The data folder of a gateway the harness started; None for --url.
    data_dir: Path | None = None

    @property
    def dsn(self) -> str:
        return plain_dsn(self.database_url) if self.database_url else ""

    @property
    def database(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).database or "" if self.database_url else ""


def plain_dsn(url: str) -> str:
    """An asyncpg/libpq DSN from paygate's SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    host = u.query.get("host") or u.host or ""
    host = host if isinstance(host, str) else host[0]
    user = u.username or "postgres"
    return f"postgresql://{user}@/{u.database}?host={host}" + (f"&port={u.port}" if u.port else "")


# --- the gateway ---------------------------------------------------------------------------


TOPOLOGIES = ("embedded", "split")
BOTH = "both"  # the two at once, measured in alternating rounds (tests/bench/alternate.py)


def start_gateway(data_dir: Path, topology: str = "embedded", **overrides: Any) -> Target:
    """`overrides` replace Settings fields (envoy_max_rps=...)."""
    from servers.runtime.settings import Settings
    from tests.e2e.gateway import start_gateway as launch

    ports = free_ports(11)
    settings = dataclasses.replace(
        Settings.from_env(),
        data_dir=data_dir,
        http_port=ports[0],
        grpc_port=ports[1],
        envoy_admin_port=ports[2],
        worker_port=ports[3],
        acquirer_port=ports[4],
        web_port=ports[5],
        stripe_port=ports[6],
        psp_port=ports[7],
        vault_processes=1 if topology == "split" else 0,
        vault_port=ports[8],
        vault_tokens_port=ports[9],
        # Free, not the default 4242: another gateway on the machine (make run) has that one,
        # and a role that cannot bind crash-loops until the launcher stops every child.
        demo_port=ports[10],
        api_base_port=free_port_range(API_PROCESSES, avoid=set(ports)),
        api_processes=API_PROCESSES,
        metrics_base_port=0,  # no scrape endpoints: the measurement is the request path
        **overrides,
    )
    gateway = launch(settings, out=open(data_dir / "gateway.log", "w"))  # noqa: SIM115
    pids = gateway.pids
    processes = Processes()
    for name, pid in pids.items():
        processes.by_kind.setdefault(measure.kind_of(name), []).append(pid)
    processes.postmaster = _postmaster_pid(data_dir / "pg")
    # The launcher runs on a thread of this process (as `paygate up` would in its own): it
    # reads and re-emits every child's log lines, which costs CPU at high request rates.
    processes.by_kind[measure.LAUNCHER] = [os.getpid()]
    target = Target(
        rest_url=gateway.rest_url,
        grpc_target=gateway.grpc_target,
        merchants=[Merchant(gateway.merchant_id, gateway.secret_key, gateway.publishable_key)],
        database_url=gateway.database_url,
        processes=processes,
        stop=gateway.stop,
        data_dir=data_dir,
    )
    target.pg_socket_dir = _socket_dir(gateway.database_url)
    return target


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _socket_dir(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    host = make_url(database_url).query.get("host", "")
    return host if isinstance(host, str) else host[0]


def set_limits(target: Target, merchants: Sequence[Merchant], limits: Sequence[str]) -> None:
    """`paygate limits set` for each class the scenarios use (the operator's command)."""
    env = {**os.environ, "DATABASE_URL": target.database_url}
    for route_class in LIMITED_CLASSES:
        argv = [*PAYGATE, "limits", "set", "--class", route_class, *limits]
        for m in merchants:
            argv += ["--merchant", m.id]
        subprocess.run(argv, env=env, check=True, capture_output=True, timeout=120)


def add_merchants(target: Target, count: int) -> None:
    """More test merchants, each with a secret and a publishable key."""

    async def seed() -> list[Merchant]:
        from adapters.sql.engine import create_engine
        from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
        from adapters.system import RandomIds, SystemClock
        from core.access.use_cases import ApiKeys

        engine = create_engine(target.database_url, pool_size=1)
        try:
            keys = ApiKeys(SqlUnitOfWorkFactory(engine), RandomIds(), SystemClock())
            out = []
            for i in range(count):
                s = await keys.seed_merchant(f"Bench merchant {i}")
                out.append(
                    Merchant(s.merchant.id, s.secret_key.plaintext, s.publishable_key.plaintext)
                )
            return out
        finally:
            await engine.dispose()

    target.merchants += asyncio.run(seed())


# --- load generators --------------------------------------------------------------------------


@dataclass
class Load:
    """One run of a load generator: what it did and what it cost."""

    ops: int
    duration_s: float
    latencies_ms: list[float]
    statuses: dict[str, int]
    failures: int
    loadgen_cpu_s: float
    extra: dict[str, Any] = field(default_factory=dict)


def run_wrk(
    target: Target,
    scenario: str,
    *,
    connections: int,
    duration: float,
    rate: float = 0.0,
    merchants: Sequence[Merchant] | None = None,
    ids: Sequence[str] = (),
    max_ops: int = 0,
) -> Load:
    merchants = list(merchants or target.merchants[:1])
    env = {
        **os.environ,
        "BENCH_SCENARIO": scenario,
        "BENCH_RATE": str(rate),
        "BENCH_THREADS": str(connections),
        "BENCH_KEYS": ",".join(m.secret_key for m in merchants),
        "BENCH_PK": ",".join(m.publishable_key for m in merchants),
        "BENCH_IDS": ",".join(ids),
        "BENCH_MAX_OPS": str(max(1, max_ops // connections) if max_ops else 0),
    }
    argv = [
        _wrk(),
        f"-t{connections}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        target.rest_url,
    ]
    run = measure.run_to_end(argv, env=env)
    out, err, status = run.out, run.err, run.status
    line = next((x for x in out.splitlines() if x.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result (status {status}): {out[-2000:]}{err[-2000:]}")
    data = json.loads(line.removeprefix("BENCHJSON "))
    return Load(
        ops=data["ops"],
        duration_s=data["duration_s"],
        latencies_ms=data["latencies_ms"],
        statuses=data["statuses"],
        failures=data["failures"] + data["socket_errors"],
        loadgen_cpu_s=run.cpu_s,
    )


def _wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is missing: apt-get install -y wrk")
    return found


def run_grpc(
    target: Target,
    scenario: str,
    *,
    processes: int,
    concurrency: int,
    duration: float,
    rate: float = 0.0,
    max_ops: int = 0,
    extra_args: Sequence[str] = (),
) -> Load:
    """Native gRPC load from `processes` Python processes (tests/bench/grpc_load.py)."""
    m = target.merchants[0]
    argv = [
        sys.executable,
        "-m",
        "tests.bench.grpc_load",
        "--target",
        target.grpc_target,
        "--scenario",
        scenario,
        "--processes",
        str(processes),
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
        "--rate",
        str(rate),
        "--max-ops",
        str(max_ops),
        "--secret-key",
        m.secret_key,
        "--publishable-key",
        m.publishable_key,
        *extra_args,
    ]
    run = measure.run_to_end(argv, cwd=REPO)
    out, err, status = run.out, run.err, run.status
    if status != 0:
        raise RuntimeError(f"grpc_load failed ({status}): {err[-3000:]}")
    data = json.loads(out.strip().splitlines()[-1])
    return Load(
        ops=data["ops"],
        duration_s=data["duration_s"],
        latencies_ms=data["latencies_ms"],
        statuses=data["statuses"],
        failures=data["failures"],
        loadgen_cpu_s=run.cpu_s,
    )


# --- scenarios ------------------------------------------------------------------------------


# The edge limit (PAYGATE_ENVOY_MAX_RPS) the second half of `overload` sets, as a share of
# the measured peak (--edge-share): headroom below capacity, as a gateway is sized
# (docs/operations.md).
EDGE_SHARE = 0.7


@dataclass
class Options:
    duration: float = 10.0
    max_ops: int = 200_000
    settle: float = measure.STATS_SETTLE_SECONDS
    quick: bool = False
    topology: str = "embedded"
    growth: tuple[int, ...] = (0, 1_000_000, 10_000_000)
    edge_share: float = EDGE_SHARE
    # Only the closed-loop peaks (`--topology both`: the rounds compare throughput and CPU).
    peak_only: bool = False


def measured(target: Target, opts: Options, name: str, run: Any, **info: Any) -> dict[str, Any]:
    """Runs `run()` between two probes and summarizes it."""
    before = measure.probe(target.processes, target.dsn, target.database, opts.settle)
    log = target.data_dir / "gateway.log" if target.data_dir else None
    log_start = log.stat().st_size if log is not None and log.exists() else None
    waited = tail.run_delay_ms(target.processes)
    load: Load = run()
    waited = {k: v - waited.get(k, 0.0) for k, v in tail.run_delay_ms(target.processes).items()}
    cpu_at = time.monotonic()
    cpu_after = target.processes.cpu() if target.processes else {}
    db_after = measure.probe(None, target.dsn, target.database, opts.settle).db
    after = measure.Probe(cpu_after, db_after, cpu_at)
    result: dict[str, Any] = {
        "scenario": name,
        **info,
        "ops": load.ops,
        "duration_s": round(load.duration_s, 3),
        "throughput": round(load.ops / load.duration_s, 1) if load.duration_s else 0.0,
        "p50_ms": measure.percentile(load.latencies_ms, 50),
        "p99_ms": measure.percentile(load.latencies_ms, 99),
        "statuses": load.statuses,
        "failures": load.failures,
        **measure.per_op(before, after, load.ops, load.loadgen_cpu_s, target.idle_cpu),
        **load.extra,
        # The API's and Envoy's own times of the same requests (tests/bench/tail.py).
        **_hops(log, log_start),
        "run_delay_ms_per_op": {k: round(v / load.ops, 3) for k, v in waited.items() if load.ops},
        "topology": opts.topology,
        # The machine's 1-minute load average as the run ended: other work shares it.
        "load_average": round(os.getloadavg()[0], 2),
    }
    _print_row(result)
    return result


def _hops(log: Path | None, start: int | None) -> dict[str, Any]:
    """The API's and Envoy's own times of the run's requests, from the gateway's log."""
    if log is None or start is None:
        return {}
    return {"hops": tail.summary(tail.segment(log, start))}


def measured_rest(
    target: Target,
    opts: Options,
    name: str,
    scenario: str,
    connections: int,
    *,
    rate: float = 0.0,
    wrk: dict[str, Any] | None = None,
    **info: Any,
) -> dict[str, Any]:
    """One wrk run of `scenario`: closed loop, or at `rate` operations per second."""
    if rate:
        info = {"target_rate": round(rate, 1), **info}
    return measured(
        target,
        opts,
        name,
        lambda: run_wrk(
            target,
            scenario,
            connections=connections,
            duration=opts.duration,
            rate=rate,
            max_ops=opts.max_ops,
            **(wrk or {}),
        ),
        model="open" if rate else "closed",
        transport="rest",
        connections=connections,
        **info,
    )


def _print_row(r: dict[str, Any]) -> None:
    cpu = r.get("cpu_ms_per_op", {})
    print(
        f"{r['scenario']:<28} {r['throughput']:>9.1f}/s  p50 {r['p50_ms']} ms  p99 "
        f"{r['p99_ms']} ms  tx/op {r.get('transactions_per_op')}  commits/op "
        f"{r.get('commits_per_op')}  writing tx/op {r.get('write_transactions_per_op')}  "
        f"rows written/op {r.get('rows_written_per_op')}  cpu ms/op {cpu} (gateway "
        f"{r.get('gateway_cpu_ms_per_op')}, net of idle {r.get('gateway_net_cpu_ms_per_op')})  "
        f"{r['statuses']}  hops {r.get('hops')}  run delay ms/op {r.get('run_delay_ms_per_op')}",
        flush=True,
    )


def make_intents(target: Target, count: int) -> list[str]:
    m = target.merchants[0]
    ids = []
    with httpx.Client(base_url=target.rest_url, timeout=30) as client:
        for _ in range(count):
            r = client.post(
                "/v1/payment_intents",
                json={"amount": 1000, "currency": "usd"},
                headers={"Authorization": f"Bearer {m.secret_key}"},
            )
            r.raise_for_status()
            ids.append(r.json()["id"])
    return ids


def peak_and_half(
    target: Target,
    opts: Options,
    name: str,
    scenario: str,
    connections: int,
    **wrk: Any,
) -> list[dict[str, Any]]:
    """Closed loop for the peak, then the open model at half of it for latency."""
    peak = measured_rest(target, opts, f"{name} peak", scenario, connections, wrk=wrk)
    if opts.peak_only:
        return [peak]
    rate = max(1.0, peak["throughput"] / 2)
    half = measured_rest(
        target, opts, f"{name} at half peak", scenario, connections, rate=rate, wrk=wrk
    )
    return [peak, half]


def scenario_get(target: Target, opts: Options) -> list[dict[str, Any]]:
    ids = make_intents(target, 5 if opts.quick else 100)
    return peak_and_half(target, opts, "get intent", "get", 4 if opts.quick else 32, ids=ids)


def scenario_create(target: Target, opts: Options) -> list[dict[str, Any]]:
    return peak_and_half(target, opts, "create intent", "create", 4 if opts.quick else 32)


def scenario_payment(target: Target, opts: Options) -> list[dict[str, Any]]:
    return peak_and_half(target, opts, "full payment", "payment", 4 if opts.quick else 16)


def _simple(name: str, scenario: str, connections: int) -> Any:
    def run(target: Target, opts: Options) -> list[dict[str, Any]]:
        c = min(connections, 4) if opts.quick else connections
        return [measured_rest(target, opts, name, scenario, c)]

    return run


def scenario_grpc_payment(target: Target, opts: Options) -> list[dict[str, Any]]:
    procs, conc = (1, 2) if opts.quick else (2, 8)
    return [
        measured(
            target,
            opts,
            "full payment grpc peak",
            lambda: run_grpc(
                target,
                "payment",
                processes=procs,
                concurrency=conc,
                duration=opts.duration,
                max_ops=opts.max_ops,
            ),
            model="closed",
            transport="grpc",
            connections=procs * conc,
        )
    ]


def scenario_merchants(target: Target, opts: Options) -> list[dict[str, Any]]:
    """The same payment load from one merchant, then spread over 100 merchants."""
    count = 3 if opts.quick else 100
    if len(target.merchants) < count:
        add_merchants(target, count - len(target.merchants))
        set_limits(target, target.merchants[1:], UNLIMITED)
        time.sleep(0 if opts.quick else 1)
    c = 4 if opts.quick else 16
    out = []
    for name, merchants in (
        ("payment hot merchant", target.merchants[:1]),
        (f"payment over {count} merchants", target.merchants[:count]),
    ):
        out.append(
            measured_rest(
                target,
                opts,
                name,
                "payment",
                c,
                wrk={"merchants": merchants},
                merchants=len(merchants),
            )
        )
    return out


def scenario_growth(target: Target, opts: Options) -> list[dict[str, Any]]:
    """The same payment and balance read with the books at each size of opts.growth."""
    from tests.bench import growth

    out: list[dict[str, Any]] = []
    m = target.merchants[0]
    c = 4 if opts.quick else 16
    make_payments(target, 1)  # the template the seeding clones
    have = asyncio.run(growth.books(target.dsn, m.id))
    tag = f"g{int(time.time())}"
    for size in opts.growth:
        load = os.getloadavg()
        cpu = target.processes.cpu().get(measure.POSTGRES) if target.processes else None
        seeding = asyncio.run(growth.seed(target.dsn, m.id, size, have, tag))
        if cpu is not None and target.processes:
            seeding["postgres_cpu_s"] = round(target.processes.cpu()[measure.POSTGRES] - cpu, 1)
        seeding["load"] = [round(x, 2) for x in (*load, *os.getloadavg())]
        print(f"growth: seeded {have} -> {size}: {seeding}", flush=True)
        have = max(have, size)
        checkpoint_s = asyncio.run(growth.wait_for_checkpoint(target.dsn, m.id))
        books = asyncio.run(growth.counts(target.dsn))
        # The counts read 40 M rows at 10 M payments: their backend has exited and been
        # reaped, its CPU in the postmaster's, before the run's first CPU reading.
        time.sleep(5)
        info = {
            "seeded_payments": size,
            "seeding_s": seeding["seconds"],
            "seeding": seeding,
            "checkpoint_wait_s": checkpoint_s,
        }
        for flow in ("payment", "balance"):
            out.append(
                measured_rest(target, opts, f"{flow} at {size} rows", flow, c, books=books, **info)
            )
    return out


def make_payments(target: Target, count: int) -> None:
    """Full card payments over REST, one after the other."""
    m = target.merchants[0]
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
    with httpx.Client(base_url=target.rest_url, timeout=30) as client:
        for _ in range(count):
            token = client.post(
                "/v1/tokens",
                json={"card": card},
                headers={"Authorization": f"Bearer {m.publishable_key}"},
            ).json()["id"]
            secret = {"Authorization": f"Bearer {m.secret_key}"}
            intent = client.post(
                "/v1/payment_intents", json={"amount": 2500, "currency": "usd"}, headers=secret
            ).json()["id"]
            client.post(
                f"/v1/payment_intents/{intent}/confirm",
                json={"payment_method": token},
                headers=secret,
            ).raise_for_status()


# Issue 17's overload targets: after the load drops, a lone request is served within this.
RECOVERY_TARGET_S = 10.0


def scenario_overload(target: Target, opts: Options) -> list[dict[str, Any]]:
    """Twice the measured peak of payment creation against a merchant whose limit is that
    peak. First the latency under the limit (half the peak, the same limit): the reference
    for the admitted requests' latency. Then twice the peak: the excess must be refused
    with 429, nothing else, and the admitted requests keep their latency. Then how long
    until a lone request is served again (overload_verdict).

    Once with the merchant's limit alone (every refusal made by an API process), then on a
    second gateway of the same shape whose Envoy sheds the class's calls beyond
    opts.edge_share of the peak (PAYGATE_ENVOY_MAX_RPS), when the harness started the gateway."""
    c = 4 if opts.quick else 32
    peak = run_wrk(target, "create", connections=c, duration=max(2.0, opts.duration / 2))
    peak_rate = max(2, int(peak.ops / peak.duration_s))
    m = target.merchants[0]
    limit = f"{peak_rate}/second"
    # `paygate up` runs a Redis of its own (or uses REDIS_URL): every API process counts
    # against the same limit, so the limit is the measured peak itself.
    set_limits(target, [m], (limit,))
    time.sleep(31 if not opts.quick else 0)  # the API processes' override cache (30 s)
    out = _overload_runs(target, opts, c, peak_rate, limit)
    set_limits(target, [m], UNLIMITED)
    time.sleep(31 if not opts.quick else 0)
    if target.data_dir is None:
        return out
    edge_rps = max(1, int(peak_rate * opts.edge_share))
    edge_dir = target.data_dir.with_name(target.data_dir.name + "-edge")
    shutil.rmtree(edge_dir, ignore_errors=True)
    edge_dir.mkdir(parents=True)
    try:
        edge = start_gateway(edge_dir, envoy_max_rps=f"payments_create={edge_rps}")
    except Exception as error:  # the first half's figures still count
        print(f"overload: the gateway with the edge limit did not start: {error!r}", flush=True)
        return out
    try:
        set_limits(edge, edge.merchants, (limit,))  # before any call: nothing cached yet
        out += _overload_runs(edge, opts, c, peak_rate, limit, edge_rps=edge_rps)
    finally:
        edge.stop()
    return out


def _overload_runs(
    target: Target, opts: Options, c: int, peak_rate: int, limit: str, edge_rps: int = 0
) -> list[dict[str, Any]]:
    suffix = f", edge {edge_rps}/s" if edge_rps else ""
    info: dict[str, Any] = {"limit": limit, "peak_rate": peak_rate, "edge_limit_rps": edge_rps}
    under = measured_rest(
        target, opts, f"create under the limit{suffix}", "create", c, rate=peak_rate / 2, **info
    )
    result = measured_rest(
        target, opts, f"create at 2x peak{suffix}", "create", c, rate=2 * peak_rate, **info
    )
    result.update(overload_verdict(under, result, _recovery_seconds(target)))
    print(
        f"overload{suffix}: admitted p50/p99 {result['admitted_p50_ms']}/"
        f"{result['admitted_p99_ms']} ms vs {result['unloaded_p50_ms']}/"
        f"{result['unloaded_p99_ms']} ms under the limit; server errors "
        f"{result['server_errors']}, no answer {result['no_answer']}, recovery "
        f"{result['recovery_s']} s",
        flush=True,
    )
    return [under, result]


def overload_verdict(
    under: dict[str, Any], overloaded: dict[str, Any], recovery_s: float | None
) -> dict[str, Any]:
    """Issue 17's overload figures from the run under the limit and the run at 2x peak.
    rest.lua records the latency of answered (2xx) operations only, so the 2x run's
    percentiles are the admitted requests' latency."""
    statuses: dict[str, int] = overloaded["statuses"]
    server_errors = sum(n for code, n in statuses.items() if code.startswith("5"))
    refused = {code: n for code, n in statuses.items() if not code.startswith("2")}
    # A failed operation without a status is a socket error or a timeout (no answer).
    no_answer = max(0, overloaded["failures"] - sum(refused.values()))
    p99, unloaded_p99 = overloaded["p99_ms"], under["p99_ms"]
    return {
        "admitted_p50_ms": overloaded["p50_ms"],
        "admitted_p99_ms": p99,
        "unloaded_p50_ms": under["p50_ms"],
        "unloaded_p99_ms": unloaded_p99,
        "admitted_p99_vs_unloaded": round(p99 / unloaded_p99, 2) if p99 and unloaded_p99 else None,
        "admitted_p50_vs_unloaded": (
            round(overloaded["p50_ms"] / under["p50_ms"], 2)
            if overloaded["p50_ms"] and under["p50_ms"]
            else None
        ),
        "server_errors": server_errors,
        "no_answer": no_answer,
        "only_429_refusals": set(refused) <= {"429"} and no_answer == 0,
        "recovery_s": recovery_s,
        "recovered_within_target": recovery_s is not None and recovery_s <= RECOVERY_TARGET_S,
    }


def _recovery_seconds(target: Target, limit: float = 60.0) -> float | None:
    """Seconds from the end of the overload to the first request answered 200."""
    m = target.merchants[0]
    started = time.monotonic()
    with httpx.Client(base_url=target.rest_url, timeout=10) as client:
        while time.monotonic() - started < limit:
            r = client.post(
                "/v1/payment_intents",
                json={"amount": 1000, "currency": "usd"},
                headers={"Authorization": f"Bearer {m.secret_key}"},
            )
            if r.status_code == 200:
                return round(time.monotonic() - started, 3)
            time.sleep(0.05)
    return None


# --- references -----------------------------------------------------------------------------


def pgbench(
    target: Target,
    args: Sequence[str],
    database: str,
    duration: float,
    clients: int = 8,
) -> dict[str, Any]:
    argv = [
        _pgbench(),
        "-h",
        target.pg_socket_dir,
        "-U",
        "postgres",
        "-n",
        "-c",
        str(clients),
        "-j",
        "2",
        "-T",
        str(max(1, round(duration))),
        *args,
        database,
    ]
    run = measure.run_to_end(argv)
    out, err, status = run.out, run.err, run.status
    tps = None
    for line in out.splitlines():
        if line.startswith("tps = "):
            tps = float(line.split()[2])
    if tps is None:
        raise RuntimeError(f"pgbench failed ({status}): {out[-1500:]} {err[-1500:]}")
    return {"tps": round(tps, 1), "clients": clients, "loadgen_cpu_s": run.user_s}


def _pgbench() -> str:
    for candidate in (shutil.which("pgbench"), *_pg_bin_candidates("pgbench")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise RuntimeError("pgbench is missing: apt-get install -y postgresql-client")


def _pg_bin_candidates(name: str) -> list[str]:
    try:
        import pgserver  # type: ignore[import-untyped]

        return [str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)]
    except ImportError:
        return []


def references(target: Target, opts: Options) -> dict[str, Any]:
    """The database's own limits, measured now on the same machine."""
    if not target.pg_socket_dir:
        return {}
    refs: dict[str, Any] = {}
    db = "bench_tpcb"
    asyncio.run(_recreate_database(target.dsn, db))
    init = [_pgbench(), "-h", target.pg_socket_dir, "-U", "postgres", "-i", "-q", "-s", "10", db]
    subprocess.run(init, check=True, capture_output=True, timeout=600)
    refs["pg_select"] = pgbench(target, ["-S"], db, opts.duration)
    refs["pg_tpcb"] = pgbench(target, [], db, opts.duration)
    if target.merchants[0].id:
        from tests.bench import capture

        text = payment_script(target)
        if text is not None:
            values = asyncio.run(capture.merchant_values(target.dsn, target.merchants[0]))
            with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
                script.write(capture.prepared_text(capture.filled_text(text, values)))
                script.flush()
                refs["pg_payment"] = pgbench(
                    target,
                    ["-f", script.name, "-M", "prepared"],
                    target.database,
                    opts.duration,
                    16,
                ) | {"script": capture.describe_text(text)}
            refs["pg_payment"]["script"]["committed_script_current"] = (
                PAYMENT_SQL.exists() and capture.same_shape(PAYMENT_SQL.read_text(), text)
            )
    return refs


def payment_script(target: Target) -> str | None:
    """The pgbench script of one full payment: captured from the gateway under test when
    the harness started it (its PostgreSQL log is at hand), so that R_pg_payment always
    replays the SQL of the code being measured; otherwise the committed
    tests/bench/payment.sql."""
    from tests.bench import capture

    log_file = target.data_dir / "pg" / "postgres.log" if target.data_dir else None
    if log_file is not None and log_file.exists():
        text = capture.capture(target, log_file)
        if PAYMENT_SQL.exists() and not capture.same_shape(PAYMENT_SQL.read_text(), text):
            print(
                "references: tests/bench/payment.sql differs from the SQL the gateway sends "
                "now; `python -m tests.bench capture-sql` rewrites it",
                file=sys.stderr,
                flush=True,
            )
        return text
    return PAYMENT_SQL.read_text() if PAYMENT_SQL.exists() else None


async def _recreate_database(dsn: str, name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


# --- the run ----------------------------------------------------------------------------------

SCENARIOS: dict[str, Any] = {
    "get": scenario_get,
    "create": scenario_create,
    "payment": scenario_payment,
    "grpc_payment": scenario_grpc_payment,
    "capture": _simple("capture flow", "capture", 16),
    "refund": _simple("refund flow", "refund", 16),
    "tokenize": _simple("tokenize", "tokenize", 16),
    "replay": _simple("idempotent replay", "replay", 32),
    "list": _simple("list with paging", "list", 32),
    "merchants": scenario_merchants,
    "growth": scenario_growth,
    "overload": scenario_overload,
}


def ratios(results: list[dict[str, Any]], refs: dict[str, Any]) -> dict[str, float]:
    by_name = {r["scenario"]: r for r in results}
    out: dict[str, float] = {}

    def ratio(name: str, scenario: str, ref: str) -> None:
        r, base = by_name.get(scenario), refs.get(ref)
        if r and base and base.get("tps"):
            out[name] = round(r["throughput"] / base["tps"], 3)

    ratio("payment_vs_pg_payment", "full payment peak", "pg_payment")
    ratio("payment_vs_pg_tpcb", "full payment peak", "pg_tpcb")
    ratio("get_vs_pg_select", "get intent peak", "pg_select")
    ratio("create_vs_pg_tpcb", "create intent peak", "pg_tpcb")
    for name, ref in (("get_vs_grpc_echo_2", "grpc_echo_2"), ("get_vs_envoy_echo", "envoy_echo")):
        ratio(name, "get intent peak", ref)
    rest, grpc = by_name.get("full payment peak"), by_name.get("full payment grpc peak")
    if rest and grpc and grpc["throughput"]:
        out["payment_rest_vs_grpc"] = round(rest["throughput"] / grpc["throughput"], 3)
    sizes = [r for r in results if r["scenario"].startswith(("payment at ", "balance at "))]
    for kind in ("payment", "balance"):
        runs = [r for r in sizes if r["scenario"].startswith(kind)]
        if len(runs) >= 2 and runs[0]["throughput"]:
            out[f"{kind}_largest_vs_empty"] = round(
                runs[-1]["throughput"] / runs[0]["throughput"], 3
            )
    hot = by_name.get("payment hot merchant")
    spread = next((r for r in results if r["scenario"].startswith("payment over")), None)
    if hot and spread and spread["throughput"]:
        out["hot_vs_spread"] = round(hot["throughput"] / spread["throughput"], 3)
    return out


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def markdown(report: dict[str, Any]) -> str:
    """The results of one run as the tables of docs/performance.md."""
    m = report["machine"]
    lines = [
        f"Run {report['started']} to {report['finished']} on {m['cores']} cores ({m['cpu']}), "
        f"{m['memory_gib']} GiB, kernel {m['kernel']}, Python {m['python']}; load average "
        f"{m['load_average_at_start']} at the start, {m['load_average_at_end']} at the end.",
        "",
        "| scenario | model | ops/s | p50 ms | p99 ms | tx/op | writing tx/op | rows written/op "
        "| CPU ms/op api | vault | envoy | postgres | launcher | other | gateway | loadgen "
        "| answers | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in report["scenarios"]:
        cpu = r.get("cpu_ms_per_op", {})
        model = r.get("model", "")
        if model == "open":
            model += f" @{r.get('target_rate')}/s"
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
        lines.append(
            f"| {r['scenario']} | {model} | {r['throughput']} | {r['p50_ms']} | {r['p99_ms']} "
            f"| {r.get('transactions_per_op')} | {r.get('write_transactions_per_op')} "
            f"| {r.get('rows_written_per_op')} | {cpu.get('api')} | {cpu.get('vault', '')} "
            f"| {cpu.get('envoy')} | {cpu.get('postgres')} | {cpu.get('launcher')} "
            f"| {cpu.get('other')} | {r.get('gateway_cpu_ms_per_op')} | {cpu.get('loadgen')} "
            f"| {answers} | {r.get('load_average')} |"
        )
    lines += ["", "| reference | tps |", "| --- | ---: |"]
    for name, ref in report["references"].items():
        lines.append(f"| {name} | {ref.get('tps')} |")
    lines += ["", "| ratio | value |", "| --- | ---: |"]
    for name, value in report["ratios"].items():
        lines.append(f"| {name} | {value} |")
    for r in report["scenarios"]:
        if "admitted_p99_ms" in r:
            lines += ["", overload_line(r)]
    return "\n".join(lines) + "\n"


def overload_line(r: dict[str, Any]) -> str:
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
    return (
        f"Overload ({r['scenario']}, limit {r.get('limit')}): answers {answers}; "
        f"{r['server_errors']} server errors, {r['no_answer']} without an answer; admitted "
        f"p50/p99 {r['admitted_p50_ms']}/{r['admitted_p99_ms']} ms against "
        f"{r['unloaded_p50_ms']}/{r['unloaded_p99_ms']} ms under the limit "
        f"(p50 {r.get('admitted_p50_vs_unloaded')} x, p99 {r['admitted_p99_vs_unloaded']} x); "
        f"recovery {r['recovery_s']} s."
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "table":
        print(markdown(json.loads(Path(args.results[0]).read_text())), end="")
        return 0
    if args.command == "compare":
        from tests.bench import topologies

        return topologies.main(args.results, Path(args.out))
    if args.command == "capture-sql":
        from tests.bench import capture

        return capture.main(args)
    opts = Options(
        duration=args.duration if args.duration else (2.0 if args.quick else 10.0),
        max_ops=args.max_ops or (200 if args.quick else 200_000),
        settle=args.settle
        if args.settle is not None
        else (0.0 if args.quick else measure.STATS_SETTLE_SECONDS),
        quick=args.quick,
        topology=args.topology,
        growth=tuple(int(x) for x in args.growth.split(","))
        if args.growth
        else ((0, 200) if args.quick else (0, 1_000_000, 10_000_000)),
        edge_share=args.edge_share,
    )
    names = args.scenarios.split(",") if args.scenarios else list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenarios: {unknown}; known: {list(SCENARIOS)}", file=sys.stderr)
        return 2
    if args.topology == BOTH:
        return _alternate(args, opts, names)
    started = datetime.now(UTC)
    host = machine()
    failed: list[dict[str, Any]] = []
    target = _target(args)
    try:
        if not args.url:
            set_limits(target, target.merchants, UNLIMITED)
        if target.processes is not None:
            target.idle_cpu = measure.idle_cpu(target.processes, 1.0 if args.quick else IDLE_S)
        results: list[dict[str, Any]] = []
        for name in names:
            results += _scenario(name, target, opts, failed)
        refs: dict[str, Any] = {}
        if not args.no_references:
            from tests.bench import echo

            measures = [lambda: references(target, opts)]
            if not args.quick:
                measures.append(lambda: echo.references(opts.duration))
            for reference in measures:
                try:
                    refs.update(reference())
                except Exception as error:
                    print(f"references: failed: {error!r}", file=sys.stderr, flush=True)
                    failed.append({"reference": True, "error": repr(error)[:2000]})
    finally:
        if target.stop is not None:
            target.stop()
    gateway = (
        f"started by the harness (make run's topology, the zone {opts.topology})"
        if not args.url
        else args.url
    )
    report = _report(started, host, opts, gateway, target, results, failed, refs)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = ("-split" if opts.topology == "split" else "") + ("-quick" if args.quick else "")
    path = out_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}{suffix}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"references": refs, "ratios": report["ratios"]}, indent=2))
    print(f"results: {path}")
    return 0


def _scenario(
    name: str, target: Target, opts: Options, failed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One scenario's results; a failure is recorded and the other scenarios still run."""
    try:
        result: list[dict[str, Any]] = SCENARIOS[name](target, opts)
        return result
    except Exception as error:
        print(f"{name}: failed: {error!r}", file=sys.stderr, flush=True)
        failed.append({"scenario": name, "error": repr(error)[:2000]})
        return []


def _report(
    started: datetime,
    host: dict[str, Any],
    opts: Options,
    gateway: str,
    target: Target,
    results: list[dict[str, Any]],
    failed: list[dict[str, Any]],
    refs: dict[str, Any],
) -> dict[str, Any]:
    return {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": host | {"load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "options": dataclasses.asdict(opts),
        "gateway": gateway,
        "topology": opts.topology,
        "idle_cpu_ms_per_s": target.idle_cpu,
        "scenarios": results,
        "failed": failed,
        "references": refs,
        "ratios": ratios(results, refs),
    }


def _alternate(args: argparse.Namespace, opts: Options, names: Sequence[str]) -> int:
    """Both topologies at once, their peaks measured in alternating rounds."""
    from tests.bench import alternate

    if args.url:
        raise SystemExit("--topology both starts its own two gateways: drop --url")
    started = datetime.now(UTC)
    host = machine()
    base = Path(args.data_dir or (REPO / "var" / "bench")).absolute()
    dirs = alternate.data_dirs(base, args.keep_data)
    targets: dict[str, Target] = {}
    failed: dict[str, list[dict[str, Any]]] = {t: [] for t in TOPOLOGIES}
    try:
        for topology in TOPOLOGIES:
            targets[topology] = start_gateway(dirs[topology], topology)
            set_limits(targets[topology], targets[topology].merchants, UNLIMITED)
        alternate.idle_both(targets, 1.0 if args.quick else IDLE_S)
        peaks = alternate.options_for_rounds(opts)

        def one(name: str, target: Target, topology: str) -> list[dict[str, Any]]:
            return _scenario(
                name, target, dataclasses.replace(peaks, topology=topology), failed[topology]
            )

        results = alternate.run_rounds(targets, args.rounds, names, one)
    finally:
        for target in targets.values():
            if target.stop is not None:
                target.stop()
    reports = {
        topology: _report(
            started,
            host,
            dataclasses.replace(peaks, topology=topology),
            f"started by the harness beside the other topology ({args.rounds} alternating rounds)",
            targets[topology],
            results[topology],
            failed[topology],
            {},
        )
        | {"rounds": args.rounds}
        for topology in TOPOLOGIES
    }
    paths = alternate.write(Path(args.out), started, reports, quick=args.quick)
    for path in paths.values():
        print(f"results: {path}")
    return 0


def _target(args: argparse.Namespace) -> Target:
    if args.url:
        if not args.secret_key:
            raise SystemExit("--url needs --secret-key (and --publishable-key for payments)")
        target = Target(
            rest_url=args.url.rstrip("/"),
            grpc_target=args.grpc or "",
            merchants=[Merchant(args.merchant or "", args.secret_key, args.publishable_key)],
            database_url=args.database_url or "",
        )
        target.pg_socket_dir = _socket_dir(target.database_url) if target.database_url else ""
        return target
    data_dir = Path(args.data_dir or (REPO / "var" / "bench")).absolute()
    if data_dir.exists() and not args.keep_data:
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    return start_gateway(data_dir, args.topology)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.split("\n")[0])
    p.add_argument(
        "command", nargs="?", default="run", choices=["run", "capture-sql", "table", "compare"]
    )
    p.add_argument("results", nargs="*", help="for `table`: a results JSON; for `compare`: several")
    p.add_argument(
        "--topology",
        choices=(*TOPOLOGIES, BOTH),
        default="embedded",
        help="split: the cardholder-data zone (vault role) in a process of its own; both: "
        "the two at once, their peaks in alternating rounds (--rounds)",
    )
    p.add_argument("--rounds", type=int, default=4, help="rounds of --topology both")
    p.add_argument(
        "--settle",
        type=float,
        default=None,
        help="seconds to wait for the database's counters around each run (11; 0 skips the "
        "wait: throughput and CPU are exact, transactions per operation approximate)",
    )
    p.add_argument("--quick", action="store_true", help="tiny counts: checks the harness")
    p.add_argument("--scenarios", default="", help=f"comma separated, of {', '.join(SCENARIOS)}")
    p.add_argument("--duration", type=float, default=0.0, help="seconds per run (default 10)")
    p.add_argument("--max-ops", type=int, default=0, help="operations per run at most")
    p.add_argument("--growth", default="", help="book sizes for `growth` (0,1000000,10000000)")
    p.add_argument(
        "--edge-share", type=float, default=EDGE_SHARE, help="`overload`'s edge limit / peak"
    )
    p.add_argument("--out", default=str(RESULTS), help="folder for the results JSON")
    p.add_argument("--data-dir", default="", help="the gateway's data folder (var/bench)")
    p.add_argument("--keep-data", action="store_true", help="reuse the data folder")
    p.add_argument("--no-references", action="store_true", help="skip pgbench and echo")
    p.add_argument("--url", default="", help="benchmark a running gateway's REST URL")
    p.add_argument("--grpc", default="", help="its gRPC target, host:port")
    p.add_argument("--merchant", default="")
    p.add_argument("--secret-key", default="")
    p.add_argument("--publishable-key", default="")
    p.add_argument("--database-url", default="", help="its database, for the counters")
    return p
