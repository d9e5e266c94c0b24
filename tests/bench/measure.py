"""What the harness measures around a scenario: CPU per process kind, database counters.

A Probe is taken before and after a scenario; the difference, divided by the operations
done, gives CPU seconds per operation for each process kind and transactions, commits
and WAL flushes per operation (pg_stat_database, pg_stat_wal). The probe's own query is
one transaction, which `diff` subtracts.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import psutil

# Process kinds, as the results name them.
API, ENVOY, POSTGRES, LOADGEN, OTHER = "api", "envoy", "postgres", "loadgen", "other"
LAUNCHER = "launcher"  # `paygate up`'s supervisor (in the benchmark: the harness process)
VAULT = "vault"  # the cardholder-data zone's own process (split topology only)


@dataclass(frozen=True)
class Finished:
    """A load generator run to its end."""

    out: str
    err: str
    status: int  # the wait status, as os.wait4 gives it
    user_s: float  # its CPU seconds, user and system, from the kernel's accounting
    system_s: float

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.system_s


def run_to_end(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Finished:
    """Runs `argv` and waits for it with os.wait4, which gives the child's own CPU. Its
    output goes to files, not pipes: a load generator prints every latency in one line
    (megabytes at a high rate), and a pipe that nobody reads until the child exits stops
    the child at 64 KiB, for ever."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Finished(
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            status,
            usage.ru_utime,
            usage.ru_stime,
        )


def kind_of(name: str) -> str:
    """The kind of a child that `paygate up` names (api-0, envoy, worker, acquirer...)."""
    if name.startswith("api"):
        return API
    if name == "envoy":
        return ENVOY
    if name == "vault":
        return VAULT
    return OTHER


def gateway_cpu_ms(cpu_ms_per_op: Mapping[str, float]) -> float:
    """CPU ms per operation of every process kind of the gateway summed (all but the load
    generator, which is the client)."""
    return round(sum(v for kind, v in cpu_ms_per_op.items() if kind != LOADGEN), 4)


@dataclass
class Processes:
    """The gateway's processes by kind; PostgreSQL's are found from its postmaster."""

    by_kind: dict[str, list[int]] = field(default_factory=dict)
    postmaster: int | None = None

    def cpu(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each kind's processes."""
        totals: dict[str, float] = {}
        for kind, members in self.by_kind.items():
            totals[kind] = sum(_cpu(pid) for pid in members)
        if self.postmaster is not None:
            # The postmaster, its live backends, and (counted by the kernel into the
            # postmaster's children times when they exit) the backends gone since.
            try:
                master = psutil.Process(self.postmaster)
                times = master.cpu_times()
                live = master.children(recursive=True)
            except psutil.NoSuchProcess:
                totals[POSTGRES] = 0.0
            else:
                totals[POSTGRES] = (
                    times.user
                    + times.system
                    + times.children_user
                    + times.children_system
                    + sum(_cpu(p.pid) for p in live)
                )
        return totals


def _cpu(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


@dataclass(frozen=True)
class DbCounters:
    commits: int
    rollbacks: int
    wal_syncs: int
    rows_written: int  # inserted + updated + deleted
    # The next transaction id: only a transaction that writes takes one, so the difference
    # counts the commits (or rollbacks) that wrote, which xact_commit does not tell apart
    # from read-only ones.
    next_xid: int

    @property
    def transactions(self) -> int:
        return self.commits + self.rollbacks


async def db_counters(dsn: str, database: str) -> DbCounters:
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "SELECT d.xact_commit, d.xact_rollback, w.wal_sync, "
            "d.tup_inserted + d.tup_updated + d.tup_deleted, "
            "pg_snapshot_xmax(pg_current_snapshot())::text::bigint "
            "FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = $1",
            database,
        )
    finally:
        await connection.close()
    assert row is not None
    return DbCounters(*(int(x) for x in row))


@dataclass(frozen=True)
class Probe:
    cpu: Mapping[str, float]
    db: DbCounters | None
    at: float = 0.0  # time.monotonic() of the CPU reading


def probe(processes: Processes | None, dsn: str | None, database: str, settle: float) -> Probe:
    at = time.monotonic()
    cpu = processes.cpu() if processes else {}
    db = asyncio.run(_settled_counters(dsn, database, settle)) if dsn else None
    return Probe(cpu, db, at)


def idle_cpu(processes: Processes, seconds: float) -> dict[str, float]:
    """CPU ms per second each kind spends with no load at all: the worker's polls, the
    health checks, the timers. A scenario's CPU window also holds this, for the settle
    pause and the run alike, and on a loaded machine (few operations) it weighs on every
    operation; `per_op` takes it out of the net figures."""
    before, started = processes.cpu(), time.monotonic()
    time.sleep(seconds)
    after, elapsed = processes.cpu(), time.monotonic() - started
    return {k: round((after[k] - before.get(k, 0.0)) / elapsed * 1e3, 3) for k in after}


# A backend sends its counters to pg_stat_database when it goes idle, but at most once a
# second, and an idle pooled connection that missed that window only after 10 s
# (PGSTAT_IDLE_INTERVAL): a reading waits that long to include every transaction.
STATS_SETTLE_SECONDS = 11.0


async def _settled_counters(dsn: str, database: str, settle: float) -> DbCounters:
    await asyncio.sleep(settle)
    return await db_counters(dsn, database)


def per_op(
    before: Probe,
    after: Probe,
    ops: int,
    loadgen_cpu: float,
    idle: Mapping[str, float] | None = None,
) -> dict[str, object]:
    """CPU ms per operation by kind, and database counters per operation. With `idle`
    (idle_cpu's rates), also the net figures: the window's idle CPU taken out."""
    n = max(ops, 1)
    cpu = {
        kind: round((after.cpu.get(kind, 0.0) - before.cpu.get(kind, 0.0)) / n * 1e3, 4)
        for kind in after.cpu
    }
    cpu[LOADGEN] = round(loadgen_cpu / n * 1e3, 4)
    out: dict[str, object] = {"cpu_ms_per_op": cpu, "gateway_cpu_ms_per_op": gateway_cpu_ms(cpu)}
    if idle is not None:
        window = after.at - before.at
        net = {
            kind: round(max(0.0, ms - idle.get(kind, 0.0) * window / n), 4)
            for kind, ms in cpu.items()
        }
        out["net_cpu_ms_per_op"] = net
        out["gateway_net_cpu_ms_per_op"] = gateway_cpu_ms(net)
    if before.db and after.db:
        # one transaction of the probe's own, committed, between the two readings
        out["transactions_per_op"] = round(
            (after.db.transactions - before.db.transactions - 1) / n, 3
        )
        out["commits_per_op"] = round((after.db.commits - before.db.commits - 1) / n, 3)
        out["write_transactions_per_op"] = round((after.db.next_xid - before.db.next_xid) / n, 3)
        out["rows_written_per_op"] = round((after.db.rows_written - before.db.rows_written) / n, 3)
        out["wal_syncs_per_op"] = round((after.db.wal_syncs - before.db.wal_syncs) / n, 3)
    return out


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return round(ordered[rank - 1], 3)
