"""`python -m tests.bench.payment_cpu [--topology embedded|split|both] [--rounds N]`: CPU
per payment, counted.

Starts `paygate up` (one API process, on its own embedded PostgreSQL; with `--topology
split` the cardholder-data zone in its own process, PAYGATE_VAULT_PROCESSES=1) and makes,
N times over, the mix of tests/e2e/test_zone_split_process.py: five cards each tokenized
twice with one Idempotency-Key, five intents created and confirmed (three captured
automatically, one manually, one declined), one request at a time. Prints the user +
system CPU milliseconds per payment of each child (from /proc) and of them all, raw and
net of each child's idle CPU (measured over --idle seconds before the payments, no load):
counted, one payment at a time, no flow left half done at the end, so a loaded machine
skews it less than a throughput figure (docs/performance.md, "The cardholder-data zone in
its own process").

`--topology both` runs the two gateways at once and their rounds in alternation, so that
both see the same machine load (a paired comparison), and prints split / embedded. With
the split topology it also counts the calls the vault role served from the API processes
and Envoy (`zone_calls_per_payment`: the round trips of the hop); `--profile DIR` records
each API process and vault role with py-spy during the rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

import httpx

from tests.e2e.conftest import gateway_settings
from tests.e2e.gateway import Gateway, start_gateway
from tests.e2e.test_split_topology_e2e import served

CARDS = ("4242424242424242",) * 3 + ("5555555555554444", "4000000000000002")


def cpu_seconds(pid: int, *, system: bool = False) -> float:
    """User + system CPU seconds of `pid` (only system time with system=True)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    user, kernel = int(fields[11]), int(fields[12])
    return (kernel if system else user + kernel) / os.sysconf("SC_CLK_TCK")


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def cpu_by_child(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def one_round(rest: httpx.Client, public: dict[str, str]) -> None:
    for i, number in enumerate(CARDS):
        card = {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"}
        once = {**key(), **public}
        token = rest.post("/v1/tokens", json={"card": card}, headers=once).json()
        rest.post("/v1/tokens", json={"card": card}, headers=once)  # the replay
        body: dict[str, Any] = {"amount": 2100, "currency": "usd"}
        if i == 3:
            body["capture_method"] = "MANUAL"
        intent = rest.post("/v1/payment_intents", json=body, headers=key()).json()
        path = f"/v1/payment_intents/{intent['id']}"
        rest.post(f"{path}/confirm", json={"payment_method": token["id"]}, headers=key())
        if i == 3:
            rest.post(f"{path}/capture", json={}, headers=key())


def record(pids: dict[str, int], into: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy on the API process and the vault role (collapsed stacks, for
    `python -m tests.bench.profile_top`), until interrupted."""
    into.mkdir(parents=True, exist_ok=True)
    spy = (str(Path(sys.executable).parent / "py-spy"), "record", "--rate", "200", "-f", "raw")
    return [
        subprocess.Popen(
            [*spy, "--nonblocking", "-p", str(pids[name]), "-o", str(into / f"{name}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in ("api-0", "vault")
        if name in pids
    ]


def internal_calls(log: Path) -> dict[str, int]:
    """The zone's gRPC calls (paygate.internal.*) the vault role has served so far."""
    calls = served(log).get("vault", {})
    return {method: n for method, n in calls.items() if method.startswith("/paygate.internal.")}


@dataclasses.dataclass
class Topology:
    """One running gateway of the comparison and what its rounds have used so far."""

    name: str
    gateway: Gateway
    log: Path
    out: TextIO
    rest: httpx.Client
    idle: dict[str, float] = dataclasses.field(default_factory=dict)
    used: dict[str, float] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    rounds: int = 0
    calls_before: dict[str, int] = dataclasses.field(default_factory=dict)
    read_cpu: dict[str, float] = dataclasses.field(default_factory=dict)
    read_count: int = 0
    zone_calls: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def public(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.gateway.publishable_key}"}

    def measure_idle(self, seconds: float) -> None:
        before, started = cpu_by_child(self.gateway.pids), time.monotonic()
        time.sleep(seconds)
        after, elapsed = cpu_by_child(self.gateway.pids), time.monotonic() - started
        self.idle = {n: (after[n] - before[n]) / elapsed for n in after}

    def start_counting(self) -> None:
        self.out.flush()
        self.calls_before = internal_calls(self.log)

    def one_round(self) -> None:
        before, started = cpu_by_child(self.gateway.pids), time.monotonic()
        one_round(self.rest, self.public)
        after = cpu_by_child(self.gateway.pids)
        self.seconds += time.monotonic() - started
        self.rounds += 1
        for n in after:
            self.used[n] = self.used.get(n, 0.0) + after[n] - before[n]

    def saved_card(self) -> str:
        card = {"number": CARDS[0], "exp_month": 12, "exp_year": 2031, "cvc": "123"}
        token = self.rest.post("/v1/tokens", json={"card": card}, headers={**key(), **self.public})
        method = self.rest.post(
            "/v1/payment_methods", json={"token": token.json()["id"]}, headers=key()
        )
        return str(method.json()["id"])

    def reads(self, method: str, count: int) -> None:
        """GET /v1/payment_methods/{id} `count` times: in split, one API -> vault role
        round trip each and nothing else the embedded gateway does not do too."""
        before, started = cpu_by_child(self.gateway.pids), time.monotonic()
        for _ in range(count):
            answer = self.rest.get(f"/v1/payment_methods/{method}")
            while answer.status_code == 429:  # the raised limit not applied yet
                time.sleep(1)
                answer = self.rest.get(f"/v1/payment_methods/{method}")
            answer.raise_for_status()
        after, elapsed = cpu_by_child(self.gateway.pids), time.monotonic() - started
        for n in after:  # net of idle
            used = after[n] - before[n] - self.idle.get(n, 0.0) * elapsed
            self.read_cpu[n] = self.read_cpu.get(n, 0.0) + used
        self.read_count += count

    def calls_since_start(self) -> dict[str, int]:
        time.sleep(1)  # the launcher relays the children's last lines
        self.out.flush()
        after = internal_calls(self.log)
        return {m: n - self.calls_before.get(m, 0) for m, n in after.items()}

    def figures(self) -> dict[str, Any]:
        payments = len(CARDS) * self.rounds or 1
        raw = {n: v / payments * 1e3 for n, v in self.used.items()}
        idle_ms = {n: self.idle.get(n, 0.0) * self.seconds / payments * 1e3 for n in raw}
        net = {n: max(0.0, raw[n] - idle_ms[n]) for n in raw}
        # API -> zone round trips per payment (split only; the mix's manual payment has
        # one capture call more, the token requests go from Envoy to the zone, and the
        # worker's polls of the zone's dispute feed are counted when they fall in).
        zone_calls = {
            m.rsplit("/", 1)[1]: round(n / payments, 2) for m, n in self.zone_calls.items() if n
        }
        reads = (
            {n: round(max(0.0, v) / self.read_count * 1e3, 3) for n, v in self.read_cpu.items()}
            if self.read_count
            else {}
        )
        return {
            "topology": self.name,
            "payments": payments,
            "seconds": round(self.seconds, 1),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "cpu_ms_per_payment": {n: round(v, 2) for n, v in raw.items()},
            "total": round(sum(raw.values()), 2),
            "net_cpu_ms_per_payment": {n: round(v, 2) for n, v in net.items()},
            "net_total": round(sum(net.values()), 2),
            "idle_cpu_ms_per_s": {n: round(v * 1e3, 2) for n, v in self.idle.items()},
            "zone_calls_per_payment": zone_calls,
            "zone_round_trips_per_payment": round(sum(zone_calls.values()), 2),
            "payment_method_reads": self.read_count,
            "cpu_ms_per_read": reads,
            "cpu_ms_per_read_total": round(sum(reads.values()), 3),
        }


def unlimited(gateway: Gateway) -> None:
    """The merchant's GETs unthrottled, as tests/bench/operation_cpu.py does."""
    limit = ("--class", "default", "1000000/second", "--merchant", gateway.merchant_id)
    subprocess.run(
        [sys.executable, "-m", "servers.cli", "limits", "set", *limit],
        env={**os.environ, "DATABASE_URL": gateway.database_url},
        check=True,
        capture_output=True,
        timeout=120,
    )


def started(name: str, root: Path, stack: contextlib.ExitStack) -> Topology:
    settings = dataclasses.replace(
        gateway_settings("", root / name / "var", api_processes=1),
        web_port=0,
        stripe_port=0,
        metrics_base_port=0,
        vault_processes=1 if name == "split" else 0,
    )
    log = root / f"{name}.log"
    out = stack.enter_context(log.open("w"))
    gateway = stack.enter_context(start_gateway(settings, out=out))
    secret = {"Authorization": f"Bearer {gateway.secret_key}"}
    rest = stack.enter_context(httpx.Client(base_url=gateway.rest_url, timeout=60, headers=secret))
    return Topology(name, gateway, log, out, rest)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.payment_cpu")
    parser.add_argument(
        "--topology",
        choices=("embedded", "split", "both"),
        default="embedded",
        help="both: the two gateways at once, their rounds in alternation (a paired "
        "comparison: both see the same machine load)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="times the five-payment mix")
    parser.add_argument("--idle", type=float, default=0.0, help="seconds of idle baseline")
    parser.add_argument("--profile", default="", help="py-spy's raw output here, by process")
    parser.add_argument(
        "--reads",
        type=int,
        default=0,
        help="then GET a saved payment method N times (in rounds of 50, in alternation): "
        "with both, split minus embedded is the CPU of one API -> vault round trip",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="paygate-cpu-"))
    names = ("embedded", "split") if args.topology == "both" else (args.topology,)
    with contextlib.ExitStack() as stack:
        topologies = [started(name, root, stack) for name in names]
        for topology in topologies:
            topology.one_round()  # connections, caches and the processes' first calls
            topology.used, topology.seconds, topology.rounds = {}, 0.0, 0
            if args.idle:
                topology.measure_idle(args.idle)
            topology.start_counting()
        spies = (
            [spy for t in topologies for spy in record(t.gateway.pids, Path(args.profile) / t.name)]
            if args.profile
            else []
        )
        for i in range(args.rounds):
            # Alternate which goes first, so neither is always measured after the other.
            for topology in topologies[:: 1 if i % 2 == 0 else -1]:
                topology.one_round()
        for t in topologies:  # the payments' round trips, before the reads'
            t.zone_calls = t.calls_since_start()
        if args.reads:
            for t in topologies:
                unlimited(t.gateway)
            methods = [t.saved_card() for t in topologies]
            for t, method in zip(topologies, methods, strict=True):
                t.reads(method, 5)  # warm
                t.read_cpu, t.read_count = {}, 0
            for i in range(0, args.reads, 50):
                pairs = list(zip(topologies, methods, strict=True))
                for t, method in pairs[:: 1 if i % 100 == 0 else -1]:
                    t.reads(method, min(50, args.reads - i))
        for spy in spies:
            spy.send_signal(2)
            spy.wait(60)
        results = [t.figures() for t in topologies]
    for result in results:
        print(json.dumps(result))
    if len(results) == 2:
        ratio = results[1]["net_total"] / results[0]["net_total"]
        print(json.dumps({"split_over_embedded": round(ratio, 3)}))


if __name__ == "__main__":
    main()
