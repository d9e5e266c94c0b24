"""A gateway whose every dependency is reached through a fault proxy (tests/faults/proxy.py):
PostgreSQL, Redis, the acquirer role (the card network) and the PSP role (Orbit: euro
card payments are routed there). The two roles are started here rather than by the
launcher, so that paygate's children are given the proxies' addresses.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from adapters.sql.engine import create_engine
from core.shared.secret import Secret
from servers.bootstrap.acquirers import acquirer_clients
from servers.bootstrap.routing import CARD_NETWORK, ORBIT
from servers.runtime.probes import tcp_open
from tests.e2e.conftest import free_port, running_gateway
from tests.e2e.gateway import Gateway
from tests.faults.proxy import FaultProxy, Upstream

ROOT = Path(__file__).resolve().parents[2]
# `make test` runs a few cases; `make test-faults` sets PAYGATE_PROXY_FAULTS=all for every
# dependency in every mode.
LONG_PROFILE = os.environ.get("PAYGATE_PROXY_FAULTS", "") == "all"
long_profile = pytest.mark.skipif(not LONG_PROFILE, reason="long profile (make test-faults)")
# Euro cards go to Orbit over HTTP, everything else to the card network over gRPC.
ROUTING = [
    {"name": "euro-to-orbit", "method": "card", "currency": "eur", "routes": [ORBIT]},
    {"name": "cards", "method": "card", "routes": [CARD_NETWORK]},
]
# Short bounds, so that a black hole ends within seconds (docs/reliability.md lists the
# production defaults).
BOUNDS = {
    "acquirer_timeout": 2.0,
    "db_command_timeout": 3.0,
    "recovery_after_seconds": 3,
    "breaker_cooldown": 2.0,
}


@dataclass
class Proxied:
    gateway: Gateway
    proxies: dict[str, FaultProxy]  # postgres, redis, acquirer, psp

    def heal(self) -> None:
        for proxy in self.proxies.values():
            proxy.healthy()


def through_proxy(database_url: str, proxies: dict[str, FaultProxy]) -> str:
    url = make_url(database_url).difference_update_query(["host"])
    url = url.set(host="127.0.0.1", port=proxies["postgres"].port)
    return url.render_as_string(hide_password=False)


def postgres_upstream(database_url: str) -> Upstream:
    """The server behind `database_url`: TCP, or the embedded server's Unix socket."""
    url = make_url(database_url)
    socket_dir = url.query.get("host")
    port = url.port or 5432
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        return Upstream.unix(f"{socket_dir}/.s.PGSQL.{port}")
    return Upstream.tcp(url.host or "127.0.0.1", port)


def redis_upstream(redis_url: str) -> tuple[Upstream, str]:
    """The server behind `redis_url` (redis://host:port/db or unix://path?db=N) and its
    database number."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        return Upstream.unix(parts.path), parse_qs(parts.query).get("db", ["0"])[0]
    database = parts.path.strip("/") or "0"
    return Upstream.tcp(parts.hostname or "127.0.0.1", parts.port or 6379), database


def start_role(
    name: str, port: int, env: dict[str, str], data_dir: Path
) -> subprocess.Popen[bytes]:
    """`paygate serve --role <name>` on 127.0.0.1:<port>, its output in data_dir."""
    env = {**os.environ, "PAYGATE_DATA_DIR": str(data_dir / name), **env}
    argv = [sys.executable, "-m", "servers.cli", "serve", "--role", name, "--listen",
            f"127.0.0.1:{port}"]  # fmt: skip
    out = (data_dir / f"{name}.log").open("ab")
    with out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not tcp_open("127.0.0.1", port):
        assert process.poll() is None and time.monotonic() < deadline, "a role did not start"
        time.sleep(0.1)


@contextlib.contextmanager
def proxied_gateway(database_url: str, redis_url: str, **overrides: object) -> Iterator[Proxied]:
    data_dir = Path(tempfile.mkdtemp(prefix="paygate-proxied-"))
    token = secrets.token_urlsafe(32)
    roles: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:
        ports = {}
        for name in ("acquirer", "psp"):
            ports[name] = free_port()
            env = {"PAYGATE_ACQUIRER_SERVICE_TOKEN": token, "DATABASE_URL": ""}
            roles.append(start_role(name, ports[name], env, data_dir))
        stack.callback(stop_roles, roles)
        for process, port in zip(roles, ports.values(), strict=True):
            wait_for_port(port, process)
        redis, redis_db = redis_upstream(redis_url)
        proxies = {
            name: stack.enter_context(FaultProxy.start(upstream, seed=17))
            for name, upstream in (
                ("postgres", postgres_upstream(database_url)),
                ("redis", redis),
                ("acquirer", Upstream.tcp("127.0.0.1", ports["acquirer"])),
                ("psp", Upstream.tcp("127.0.0.1", ports["psp"])),
            )
        }
        settings: dict[str, object] = {
            "acquirer_target": proxies["acquirer"].address,
            "acquirer_service_token": Secret(token),
            "orbit_url": f"http://{proxies['psp'].address}",
            "routing": json.dumps(ROUTING),
            "vault_cvc_store": "memory",  # one API process: CVCs may wait in its memory
            "stripe_port": 0,
            **BOUNDS,
            **overrides,
        }
        gateway = stack.enter_context(
            running_gateway(
                through_proxy(database_url, proxies),
                api_processes=1,
                web_process=False,
                redis_url=f"redis://{proxies['redis'].address}/{redis_db}",
                **settings,
            )
        )
        proxied = Proxied(gateway, proxies)
        # Whatever a test left switched on, the gateway stops on healthy dependencies.
        stack.callback(proxied.heal)
        yield proxied


def stop_roles(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def payments_of(gateway: Gateway, intent_id: str) -> tuple[list[str], Counter[str]]:
    """How many times an intent was paid, counted where money is: the outcome of each of
    its attempts at the acquirer role (ACQUIRER_NOT_ASKED when it never heard of one),
    and its ledger entries by kind."""
    engine = create_engine(gateway.database_url, pool_size=1)
    clients = acquirer_clients(
        gateway.acquirer_target, service_token=gateway.acquirer_service_token, timeout_seconds=10
    )
    try:
        async with engine.connect() as conn:
            of_intent = {"intent": intent_id}
            attempts = await conn.execute(
                text("SELECT id FROM payment_attempts WHERE payment_intent_id = :intent"),
                of_intent,
            )
            entries = await conn.execute(
                text("SELECT kind FROM ledger_entries WHERE payment_intent_id = :intent"),
                of_intent,
            )
        outcomes = []
        for attempt in attempts:
            known = await clients.card_network.lookup(attempt.id)
            outcomes.append("ACQUIRER_NOT_ASKED" if known is None else known.outcome.name)
    finally:
        await clients.aclose()
        await engine.dispose()
    return outcomes, Counter(entry.kind for entry in entries)
