"""Where a request's time goes, from the gateway's own log lines of one run.

Every REST request leaves two lines in the gateway's log (the launcher relays both):
Envoy's access line (`envoy.access`, `duration_ms`: from the first byte received to the
last byte sent) and the API process's (`paygate.access`, `ms`: from the interceptor's
entry to its exit). They share the request id (Envoy generates it and the API takes it
as the call's), so each request splits into the API's time and what Envoy and the hops
between added. Next to the client's latency from the load generator, the percentiles of
the three tell which hop makes the tail:

    python -m tests.bench.tail var/bench/gateway.log            # the whole log
    python -m tests.bench.tail var/bench/gateway.log --slowest 20

`segment(path, start)` reads what a run appended (the harness notes the log's size
before each run) and `hops()` summarizes it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from tests.bench.measure import POSTGRES, Processes, percentile


@dataclass(frozen=True)
class Request:
    request_id: str
    at: str  # Envoy's start time (ISO 8601)
    envoy_ms: float  # Envoy's whole duration
    api_ms: float | None  # the API process's, None when no API line was found
    upstream: str


def segment(path: Path, start: int) -> list[str]:
    """The lines appended to `path` from byte `start` on."""
    with open(path, "rb") as log:
        log.seek(start)
        return log.read().decode(errors="replace").splitlines()


def requests(lines: Iterable[str]) -> list[Request]:
    """Envoy's access lines joined to the API's by request id; health checks and Envoy's
    own replies (no upstream) are left out."""
    api: dict[str, float] = {}
    envoy: list[dict[str, Any]] = []
    for line in lines:
        if '"paygate.access"' not in line and '"envoy.access"' not in line:
            continue
        try:
            record = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        if record.get("logger") == "paygate.access" and "ms" in record:
            api[str(record.get("request_id", ""))] = float(record["ms"])
        elif record.get("logger") == "envoy.access" and record.get("upstream") not in (None, "-"):
            envoy.append(record)
    return [
        Request(
            request_id=str(r.get("request_id", "")),
            at=str(r.get("ts", "")),
            envoy_ms=float(r.get("duration_ms") or 0),
            api_ms=api.get(str(r.get("request_id", ""))),
            upstream=str(r.get("upstream", "")),
        )
        for r in envoy
    ]


@dataclass(frozen=True)
class Interval:
    """What a process was doing from `start` to `end` (seconds since the epoch)."""

    proc: str
    start: float
    end: float


def _interval(record: dict[str, Any], ms: float) -> Interval:
    # A line's time is when it was logged: the end of the call or of the collection.
    end = datetime.fromisoformat(str(record["ts"])).timestamp()
    return Interval(str(record.get("proc", "")), end - ms / 1000, end)


def _records(lines: Iterable[str], logger: str) -> Iterable[dict[str, Any]]:
    for line in lines:
        if f'"{logger}"' in line:
            try:
                yield json.loads(line[line.index("{") :])
            except ValueError:
                continue


def full_collections(lines: Iterable[str]) -> list[tuple[Interval, float]]:
    """Each full garbage collection the API processes logged (`paygate.gc`,
    servers/runtime/gc_pauses.py), with its CPU ms: the event loop stood still for it."""
    return [
        (_interval(r, float(r["ms"])), float(r.get("cpu_ms", 0.0)))
        for r in _records(lines, "paygate.gc")
        if "ms" in r
    ]


def calls(lines: Iterable[str]) -> list[tuple[Interval, float]]:
    """Each call's interval in its API process (`paygate up` names them api-N), with its
    ms."""
    return [
        (_interval(r, float(r["ms"])), float(r["ms"]))
        for r in _records(lines, "paygate.access")
        if "ms" in r and str(r.get("proc", "")).startswith("api")
    ]


def summary(lines: Sequence[str]) -> dict[str, Any]:
    """hops() of the requests; the full collections, and how many of the slowest 1 % of
    the API's calls overlapped one in their own process."""
    pauses = full_collections(lines)
    served = sorted(calls(lines), key=lambda c: c[1], reverse=True)
    slowest = served[: max(1, len(served) // 100)] if served else []

    def paused(call: Interval) -> bool:
        return any(
            p.proc == call.proc and p.start < call.end and call.start < p.end for p, _ in pauses
        )

    return {
        **hops(requests(lines)),
        "full_gc": {
            "count": len(pauses),
            "max_ms": max((p.end - p.start) * 1000 for p, _ in pauses) if pauses else None,
            "max_cpu_ms": max((cpu for _, cpu in pauses), default=None),
            "slowest_1pct_calls": len(slowest),
            "of_which_during_a_full_gc": sum(1 for c, _ in slowest if paused(c)),
        },
    }


def hops(found: Sequence[Request]) -> dict[str, Any]:
    """p50/p99/max of Envoy's time, the API's, and the difference (Envoy and the hops)."""
    joined = [r for r in found if r.api_ms is not None]
    envoy = [r.envoy_ms for r in found]
    api = [r.api_ms for r in joined if r.api_ms is not None]
    outside = [r.envoy_ms - (r.api_ms or 0.0) for r in joined]
    out: dict[str, Any] = {"requests": len(found), "joined": len(joined)}
    for name, values in (("envoy", envoy), ("api", api), ("envoy_minus_api", outside)):
        out[name] = {
            "p50_ms": percentile(values, 50),
            "p99_ms": percentile(values, 99),
            "max_ms": round(max(values), 3) if values else None,
        }
    out["arrivals"] = arrivals(found)
    by_upstream: dict[str, int] = {}
    for r in found:
        by_upstream[r.upstream] = by_upstream.get(r.upstream, 0) + 1
    out["by_upstream"] = by_upstream
    return out


def arrivals(found: Sequence[Request], bin_ms: float = 10.0) -> dict[str, Any]:
    """How evenly the requests reached Envoy: the open model's schedule is one arrival
    every 1/rate s, so the busiest 10 ms holds about rate/100 of them when the load
    generator keeps it; bursts show as a larger maximum."""
    times = sorted(datetime.fromisoformat(r.at).timestamp() for r in found if r.at)
    if len(times) < 2:
        return {}
    span = times[-1] - times[0]
    bins: dict[int, int] = {}
    for t in times:
        slot = int((t - times[0]) * 1000 // bin_ms)
        bins[slot] = bins.get(slot, 0) + 1
    return {
        "mean_per_10ms": round(len(times) / (span * 1000 / bin_ms), 2) if span else None,
        "max_per_10ms": max(bins.values()),
    }


def run_delay_ms(processes: Processes | None) -> dict[str, float]:
    """Milliseconds each process kind's threads have so far spent runnable but waiting
    for a core (the second field of /proc/PID/task/TID/schedstat): the part of a hop's
    time that is CPU contention, not work and not I/O."""
    if processes is None:
        return {}
    kinds = {kind: list(pids) for kind, pids in processes.by_kind.items()}
    if processes.postmaster is not None:
        try:
            master = psutil.Process(processes.postmaster)
            kinds[POSTGRES] = [master.pid, *(c.pid for c in master.children())]
        except psutil.Error:
            pass
    return {kind: sum(_run_delay_ns(pid) for pid in pids) / 1e6 for kind, pids in kinds.items()}


def _run_delay_ns(pid: int) -> int:
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.tail", description=__doc__)
    parser.add_argument("log", type=Path)
    parser.add_argument("--start", type=int, default=0, help="byte offset to read from")
    parser.add_argument("--slowest", type=int, default=0, help="list the N slowest requests")
    args = parser.parse_args(argv)
    lines = segment(args.log, args.start)
    found = requests(lines)
    print(json.dumps(summary(lines), indent=2))
    for r in sorted(found, key=lambda r: r.envoy_ms, reverse=True)[: args.slowest]:
        print(r.at, r.upstream, f"envoy {r.envoy_ms:.0f} ms", f"api {r.api_ms} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
