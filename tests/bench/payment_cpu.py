"""`python -m tests.bench.payment_cpu [--topology embedded|split] [--rounds N]`: CPU per
payment, counted.

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
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import gateway_settings
from tests.e2e.gateway import start_gateway
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.payment_cpu")
    parser.add_argument("--topology", choices=("embedded", "split"), default="embedded")
    parser.add_argument("--rounds", type=int, default=1, help="times the five-payment mix")
    parser.add_argument("--idle", type=float, default=0.0, help="seconds of idle baseline")
    parser.add_argument("--profile", default="", help="py-spy's raw output here, by process")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="paygate-cpu-"))
    settings = dataclasses.replace(
        gateway_settings("", root / "var", api_processes=1),
        web_port=0,
        stripe_port=0,
        metrics_base_port=0,
        vault_processes=1 if args.topology == "split" else 0,
    )
    log = root / "gateway.log"
    with log.open("w") as out, start_gateway(settings, out=out) as gateway:
        secret = {"Authorization": f"Bearer {gateway.secret_key}"}
        public = {"Authorization": f"Bearer {gateway.publishable_key}"}
        with httpx.Client(base_url=gateway.rest_url, timeout=60, headers=secret) as rest:
            one_round(rest, public)  # connections, caches and the processes' first calls
            idle: dict[str, float] = {}
            if args.idle:
                before, started = cpu_by_child(gateway.pids), time.monotonic()
                time.sleep(args.idle)
                after, elapsed = cpu_by_child(gateway.pids), time.monotonic() - started
                idle = {n: (after[n] - before[n]) / elapsed for n in after}
            spies = record(gateway.pids, Path(args.profile)) if args.profile else []
            out.flush()
            calls_before = internal_calls(log)
            before, started = cpu_by_child(gateway.pids), time.monotonic()
            for _ in range(args.rounds):
                one_round(rest, public)
            after, elapsed = cpu_by_child(gateway.pids), time.monotonic() - started
            for spy in spies:
                spy.send_signal(2)
                spy.wait(60)
            time.sleep(1)  # the launcher relays the children's last lines
            out.flush()
            calls_after = internal_calls(log)
    payments = len(CARDS) * args.rounds
    raw = {n: (after[n] - before[n]) / payments * 1e3 for n in after}
    net = {n: max(0.0, raw[n] - idle.get(n, 0.0) * elapsed / payments * 1e3) for n in raw}
    # API -> zone round trips per payment (split only; the e2e mix counts a capture call
    # of its manual payment and the token requests, which Envoy sends to the zone).
    zone_calls = {
        m.rsplit("/", 1)[1]: round((n - calls_before.get(m, 0)) / payments, 2)
        for m, n in calls_after.items()
        if n > calls_before.get(m, 0)
    }
    print(
        json.dumps(
            {
                "topology": args.topology,
                "payments": payments,
                "seconds": round(elapsed, 1),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "cpu_ms_per_payment": {n: round(v, 2) for n, v in raw.items()},
                "total": round(sum(raw.values()), 2),
                "net_cpu_ms_per_payment": {n: round(v, 2) for n, v in net.items()},
                "net_total": round(sum(net.values()), 2),
                "zone_calls_per_payment": zone_calls,
                "zone_round_trips_per_payment": round(sum(zone_calls.values()), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
