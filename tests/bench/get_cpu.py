"""`python -m tests.bench.get_cpu [--seconds S] [--rounds R] [--profile PREFIX]`: CPU per
GET of a payment intent by process kind, the GET alone.

Starts the gateway as the benchmark does (tests/bench/harness.py: two API processes,
Envoy, embedded PostgreSQL, the merchant's limits raised), creates 32 intents, warms up,
then drives `GET /v1/payment_intents/{id}` with wrk in a closed loop over 32 connections
(the benchmark's `get` scenario) for S seconds, R times on the same gateway. Each round
prints one JSON line: GETs per second, each kind's CPU ms per GET (user + system from
/proc; `loadgen` is wrk's own), their sum without the load generator, and the load
average before and after. With --profile, py-spy records the first API process during
each round (`--gil`, raw: PREFIX-<round>.txt, for `python -m tests.bench.profile_top`).
Quicker than `make bench` for one scenario, and without its references.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench import harness

CONNECTIONS = 32


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.get_cpu")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", default="", help="py-spy's raw output: PREFIX-<round>.txt")
    args = parser.parse_args()
    target = harness.start_gateway(Path(tempfile.mkdtemp(prefix="paygate-get-")))
    try:
        harness.set_limits(target, target.merchants, harness.UNLIMITED)
        ids = harness.make_intents(target, CONNECTIONS)
        harness.run_wrk(target, "get", connections=CONNECTIONS, duration=3, ids=ids)  # warm
        for round_ in range(args.rounds):
            spy = None
            if args.profile:
                spy = subprocess.Popen(
                    [
                        *(str(Path(sys.executable).parent / "py-spy"), "record", "-p"),
                        str(target.processes.by_kind["api"][0]),
                        *("--rate", "250", "-f", "raw", "--nonblocking", "--gil"),
                        *("-o", f"{args.profile}-{round_}.txt"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1.0)
            load_before = os.getloadavg()[0]
            before = target.processes.cpu()
            load = harness.run_wrk(
                target, "get", connections=CONNECTIONS, duration=args.seconds, ids=ids
            )
            after = target.processes.cpu()
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait()
            per_get = {
                kind: round((after[kind] - before.get(kind, 0.0)) * 1000 / load.ops, 4)
                for kind in after
            }
            gateway = round(sum(per_get.values()), 4)
            per_get["loadgen"] = round(load.loadgen_cpu_s * 1000 / load.ops, 4)
            print(
                json.dumps(
                    {
                        "round": round_,
                        "gets_per_s": round(load.ops / load.duration_s, 1),
                        "cpu_ms_per_get": per_get,
                        "gateway_cpu_ms_per_get": gateway,
                        "load": [round(load_before, 1), round(os.getloadavg()[0], 1)],
                    }
                ),
                flush=True,
            )
    finally:
        target.stop()


if __name__ == "__main__":
    main()
