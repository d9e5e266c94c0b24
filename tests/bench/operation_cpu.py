"""`python -m tests.bench.operation_cpu --payments N [--clients C] [--profile DIR [--gil]]`:
CPU per payment, GET and create, one operation after the other.

Starts `paygate up` (one API process, on its own embedded PostgreSQL) and measures the
three operations of docs/performance.md ("CPU per payment, by profile"): N full card
payments (token, create, confirm with automatic capture, each with its Idempotency-Key),
4N GETs of an intent and 2N creates, over REST through Envoy from `--clients` threads,
with the merchant's rate limits raised. It prints each child's CPU ms per operation, the
launcher's (its thread in this process: it relays the children's output) and the
database's transactions per operation; `--profile DIR` records the API process with py-spy
during each phase (DIR/payment.txt, get.txt, create.txt: collapsed stacks, for `python -m
tests.bench.profile_top`); with `--gil`, only the thread holding the GIL is sampled, so
the shares are of CPU rather than of wall time. The five-payment mix per topology is
tests/bench/payment_cpu.py.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from servers.runtime.settings import Settings
from tests.bench.payment_cpu import cpu_seconds, key
from tests.e2e.conftest import gateway_settings
from tests.e2e.gateway import Gateway, start_gateway

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}


def postgres_cpu_seconds(gateway: Gateway) -> float:
    """The postmaster (the embedded one under the data folder, else --database-url's) and
    its backends."""
    pid_files = list(gateway.data_dir.rglob("postmaster.pid")) or [external_postmaster(gateway)]
    postmaster = int(pid_files[0].read_text().split()[0])
    total = cpu_seconds(postmaster)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                total += cpu_seconds(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return total


def external_postmaster(gateway: Gateway) -> Path:
    """The postmaster.pid of a server on this machine given by --database-url."""
    import asyncio

    import asyncpg

    async def read() -> str:
        url = gateway.database_url.replace("postgresql+asyncpg://", "postgresql://")
        connection = await asyncpg.connect(url)
        try:
            return str(await connection.fetchval("SHOW data_directory"))
        finally:
            await connection.close()

    return Path(asyncio.run(read())) / "postmaster.pid"


def launcher_cpu_seconds(gateway: Gateway) -> float:
    """The launcher's thread in this process (`paygate up`'s supervisor, relaying its
    children's output): user + system CPU seconds."""
    tid = gateway._thread.native_id
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def payment(rest: httpx.Client, public: dict[str, str]) -> None:
    token = rest.post("/v1/tokens", json={"card": CARD}, headers={**key(), **public})
    intent = rest.post(
        "/v1/payment_intents", json={"amount": 2100, "currency": "usd"}, headers=key()
    ).json()
    confirmed = rest.post(
        f"/v1/payment_intents/{intent['id']}/confirm",
        json={"payment_method": token.json()["id"]},
        headers=key(),
    )
    if confirmed.json().get("status") != "SUCCEEDED":
        raise RuntimeError(f"payment not succeeded: {confirmed.text[:300]}")


def transactions(gateway: Gateway) -> tuple[int, int]:
    """The database's transactions so far, and the transaction ids handed out so far (one
    per transaction that wrote: the commits that cost a WAL flush)."""
    import asyncpg  # the gateway's own driver

    async def read() -> tuple[int, int]:
        url = gateway.database_url.replace("postgresql+asyncpg://", "postgresql://")
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("SELECT pg_stat_clear_snapshot()")
            row = await connection.fetchrow(
                "SELECT xact_commit + xact_rollback AS n,"
                " pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax"
                " FROM pg_stat_database WHERE datname = current_database()"
            )
            return int(row["n"]), int(row["xmax"])
        finally:
            await connection.close()

    import asyncio

    return asyncio.run(read())


def measure(
    gateway: Gateway,
    name: str,
    count: int,
    clients: int,
    one: Callable[..., None],
    profile: Path | None,
    gil: bool = False,
    roles: tuple[str, ...] = ("api-0",),
) -> dict[str, Any]:
    secret = {"Authorization": f"Bearer {gateway.secret_key}"}
    public = {"Authorization": f"Bearer {gateway.publishable_key}"}
    rests = [
        httpx.Client(base_url=gateway.rest_url, timeout=60, headers=secret) for _ in range(clients)
    ]
    one(rests[0], public)  # warm: the caches and pools of this path
    api = gateway.pids["api-0"]
    spies = []
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        for role in roles:
            # The API process's profile keeps its plain name (DIR/payment.txt).
            out = profile / (f"{name}.txt" if role == "api-0" else f"{name}-{role}.txt")
            spies.append(
                subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "-p",
                        str(gateway.pids[role]),
                        "--rate",
                        "200",
                        "-f",
                        "raw",
                        "--nonblocking",
                        *(["--gil"] if gil else []),
                        "-o",
                        str(out),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    tx_before = transactions(gateway)
    before = {child: cpu_seconds(pid) for child, pid in gateway.pids.items()}
    pg_before = postgres_cpu_seconds(gateway)
    launcher_before = launcher_cpu_seconds(gateway)
    api_system = cpu_seconds(api, system=True)
    load = os.getloadavg()[0]
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        jobs = [pool.submit(one, rests[i % clients], public) for i in range(count)]
        for job in jobs:
            job.result()
    used = {child: cpu_seconds(pid) - before[child] for child, pid in gateway.pids.items()}
    pg = postgres_cpu_seconds(gateway) - pg_before
    launcher = launcher_cpu_seconds(gateway) - launcher_before
    api_system = cpu_seconds(api, system=True) - api_system
    for spy in spies:
        spy.send_signal(2)
    for spy in spies:
        spy.wait(60)
    tx_after = transactions(gateway)
    tx = tx_after[0] - tx_before[0] - 2  # this function's own two reads
    writing = tx_after[1] - tx_before[1]
    for rest in rests:
        rest.close()
    result = {child: round(seconds * 1000 / count, 2) for child, seconds in used.items()}
    result["api-0 system"] = round(api_system * 1000 / count, 2)
    result["postgres"] = round(pg * 1000 / count, 2)
    result["launcher"] = round(launcher * 1000 / count, 2)
    result["tx/op"] = round(tx / count, 2)
    result["writing tx/op"] = round(writing / count, 2)
    result["load"] = round((load + os.getloadavg()[0]) / 2, 1)
    return result


def raise_limits(gateway: Gateway) -> None:
    """The merchant's rate limits out of the way of a load."""
    env = {**os.environ, "DATABASE_URL": gateway.database_url}
    for route_class in ("payments_create", "default"):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "servers.cli",
                "limits",
                "set",
                "--class",
                route_class,
                "1000000/second",
                "--merchant",
                gateway.merchant_id,
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )


def per_operation(gateway: Gateway, args: argparse.Namespace) -> None:
    raise_limits(gateway)
    secret = {"Authorization": f"Bearer {gateway.secret_key}"}
    with httpx.Client(base_url=gateway.rest_url, timeout=60, headers=secret) as rest:
        intent_id = rest.post(
            "/v1/payment_intents", json={"amount": 100, "currency": "usd"}, headers=key()
        ).json()["id"]

    def get(rest: httpx.Client, public: dict[str, str]) -> None:
        rest.get(f"/v1/payment_intents/{intent_id}").raise_for_status()

    def create(rest: httpx.Client, public: dict[str, str]) -> None:
        rest.post(
            "/v1/payment_intents", json={"amount": 100, "currency": "usd"}, headers=key()
        ).raise_for_status()

    profile = Path(args.profile) if args.profile else None
    n, c, gil = args.payments, args.clients, args.gil
    roles = tuple(r for r in args.roles.split(",") if r)
    figures = {"payment": measure(gateway, "payment", n, c, payment, profile, gil, roles)}
    if not args.payment_only:
        figures["get"] = measure(gateway, "get", n * 4, c, get, profile, gil, roles)
        figures["create"] = measure(gateway, "create", n * 2, c, create, profile, gil, roles)
    print(json.dumps(figures, indent=1))


def one_api_settings(database_url: str, root: Path) -> Settings:
    """One API process, no web or Stripe process, no metrics ports; "" for the embedded
    PostgreSQL."""
    return dataclasses.replace(
        gateway_settings(database_url, root / "var", api_processes=1),
        web_port=0,
        stripe_port=0,
        metrics_base_port=0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.operation_cpu")
    parser.add_argument("--payments", type=int, default=100, help="N payments, 4N GETs, 2N creates")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--profile", default="", help="py-spy's raw output here")
    parser.add_argument(
        "--gil",
        action="store_true",
        help="profile only the thread holding the GIL: the event loop's wait for I/O and a"
        " thread's sleep are left out, so the shares are of CPU rather than of wall time",
    )
    parser.add_argument(
        "--roles",
        default="api-0",
        help="with --profile: the children to record, comma-separated (api-0, worker,"
        " acquirer...); a child other than api-0 goes to DIR/<phase>-<child>.txt",
    )
    parser.add_argument(
        "--payment-only", action="store_true", help="measure the payments only, no GET or create"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL on this machine (postgresql+asyncpg://...) instead of the embedded"
        " one; its postmaster and backends are measured (keep it for this run alone)",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="paygate-cpu-"))
    settings = one_api_settings(args.database_url, root)
    with (root / "gateway.log").open("w") as out, start_gateway(settings, out=out) as gateway:
        per_operation(gateway, args)


if __name__ == "__main__":
    main()
