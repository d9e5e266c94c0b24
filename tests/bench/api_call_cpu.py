"""`python -m tests.bench.api_call_cpu [--gets N] [--streams S] [--runs R] [--profile FILE]`:
the API server's own CPU per call, apart from the database, Envoy and the load.

A child process serves the API role (`servers.roles.api.start`) over the in-process
adapters (`tests.fakes.in_memory_app`), its log lines at INFO written by the background
writer as in production (to /dev/null); this process sends it N GetPaymentIntent calls
over S concurrent gRPC streams of one channel, each with a secret key, and reads the
child's user + system CPU from /proc before and after. Each run is a fresh server with a
warm-up phase first. With --profile, py-spy records the child (`--gil`, raw) during the
last run. Prints one JSON line per run and the median, in microseconds of server CPU
per call; no wall time is compared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import grpc
from paygate.v1 import payment_intents_pb2, payment_intents_pb2_grpc

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


async def serve() -> None:
    """The child: serves until its stdin closes; prints the port, key and an intent id."""
    from core.access.rate_limits import DEFAULT_LIMITS
    from servers.roles.api import start
    from servers.runtime import logging_setup
    from tests.fakes import in_memory_app

    logging_setup.configure("INFO", background=True)
    # Every class as generous: the limiter still runs on every call, it never refuses.
    limits = {name: ("1000000/second",) for name in DEFAULT_LIMITS}
    app = in_memory_app(rate_limit_defaults=limits)
    seeded = await app.api_keys.seed_merchant("Bench")
    key = seeded.secret_key.plaintext
    server, _, port = await start(app, "127.0.0.1:0")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = payment_intents_pb2_grpc.PaymentIntentServiceStub(channel)
        created = await stub.CreatePaymentIntent(
            payment_intents_pb2.CreatePaymentIntentRequest(amount=1000, currency="usd"),
            metadata=(("authorization", f"Bearer {key}"),),
        )
    print(json.dumps({"port": port, "key": key, "intent": created.id}), file=sys.__stderr__)
    sys.__stderr__.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop(None)
    await app.aclose()


async def load(port: int, key: str, intent: str, gets: int, streams: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = payment_intents_pb2_grpc.PaymentIntentServiceStub(channel)
        request = payment_intents_pb2.GetPaymentIntentRequest(id=intent)
        metadata = (("authorization", f"Bearer {key}"),)
        left = [gets]

        async def stream() -> None:
            while left[0] > 0:
                left[0] -= 1
                await stub.GetPaymentIntent(request, metadata=metadata)

        await asyncio.gather(*(stream() for _ in range(streams)))


def one_run(gets: int, streams: int, profile: str = "") -> dict[str, float]:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.api_call_cpu", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stderr is not None and child.stdin is not None
        line = child.stderr.readline()
        while line and not line.startswith('{"port"'):
            line = child.stderr.readline()
        hello = json.loads(line)
        args = (hello["port"], hello["key"], hello["intent"])
        asyncio.run(load(*args, max(gets // 4, 200), streams))  # warm-up
        spy = None
        if profile:
            spy = subprocess.Popen(
                [
                    *(str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(child.pid)),
                    *("--rate", "200", "-f", "raw", "--nonblocking", "--gil", "-o", profile),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
        before = cpu_seconds(child.pid)
        asyncio.run(load(*args, gets, streams))
        used = cpu_seconds(child.pid) - before
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait()
        return {"gets": gets, "server_cpu_us_per_call": round(used / gets * 1e6, 1)}
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.api_call_cpu")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gets", type=int, default=4000)
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", default="", help="py-spy's raw output of the last run")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return
    figures = []
    for run in range(args.runs):
        last = run == args.runs - 1
        result = one_run(args.gets, args.streams, args.profile if last else "")
        result["load"] = round(os.getloadavg()[0], 1)
        print(json.dumps(result), flush=True)
        figures.append(result["server_cpu_us_per_call"])
    print(json.dumps({"median_us_per_call": statistics.median(figures), "runs": figures}))


if __name__ == "__main__":
    main()
