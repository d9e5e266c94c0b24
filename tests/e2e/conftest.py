"""End-to-end fixtures: the real process group (acquirer, API, worker and web processes,
Envoy) on free ports.

    def test_something(gateway):
        httpx.get(f"{gateway.rest_url}/v1/payment_intents",
                  headers={"Authorization": f"Bearer {gateway.secret_key}"})
        grpc.insecure_channel(gateway.grpc_target)

`gateway` (session scope) is a tests.e2e.gateway.Gateway: rest_url, grpc_target,
admin_url, secret_key, publishable_key, merchant_id, database_url, data_dir,
acquirer_target and acquirer_service_token (the acquirer role), pids (child name -> pid).
It runs with Redis, on a migrated database of the gateways' own (`gateway_database_url`:
their workers' batch jobs claim rows of every merchant, and the other tiers leave
deliberately odd ones), with a data dir of its own; its children's output goes to
<data_dir>/gateway.log (PAYGATE_E2E_LOG=stdout streams it instead). Every test under
tests/e2e is marked e2e. `running_gateway(database_url, api_processes, web_process=...)`
starts another one (a different topology) for a module of its own. Roles started one by
one (split mode) come from tests/e2e/split_roles.py, the vault's own database from
`vault_database`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from adapters.sql.vault.migrate import migrate_vault
from servers.runtime import launcher
from servers.runtime.settings import Settings
from tests.databases import fresh_database
from tests.e2e.gateway import Gateway, start_gateway
from tests.sentinel import credential_leaks
from tests.webhook_receiver import Receiver, subscribe

API_PROCESSES = 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (all held open together while they are picked)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def free_port_range(count: int, avoid: frozenset[int] | set[int] = frozenset()) -> int:
    """The first of `count` consecutive free ports (API process i listens on base + i)."""
    for _ in range(200):
        base = free_port()
        span = set(range(base, base + count))
        if base + count < 65535 and not span & avoid and all(map(_port_free, span)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def gateway_settings(
    database_url: str,
    data_dir: Path,
    api_processes: int,
    *,
    web_process: bool = True,
    demo_shop: bool = False,
    worker_processes: int = 1,
    web_processes: int = 1,
) -> Settings:
    """Settings for a gateway of its own: every port free, everything under data_dir.

    Without `web_process` the API processes serve the checkout pages (web_port 0); with
    `demo_shop` the demo merchant runs too (Gateway.demo_url). The workers and web
    processes beyond the first listen after the API processes' ports.
    """
    ports = free_ports(11)
    http_port, grpc_port, admin_port, worker_port, web_port, acquirer_port, demo_port = ports[:7]
    stripe_port, psp_port, vault_port, vault_tokens_port = ports[7:]
    extra = worker_processes - 1 + web_processes - 1
    api_base_port = free_port_range(api_processes + extra, set(ports))
    taken = {*ports, *range(api_base_port, api_base_port + api_processes + extra)}
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        http_port=http_port,
        grpc_port=grpc_port,
        envoy_admin_port=admin_port,
        api_processes=api_processes,
        api_base_port=api_base_port,
        # /metrics, /readyz, /livez of each API process, the worker, the web and the stripe
        # process.
        metrics_base_port=free_port_range(api_processes + 3 + extra, taken),
        worker_port=worker_port,
        worker_processes=worker_processes,
        web_port=web_port if web_process else 0,
        web_processes=web_processes,
        demo_port=demo_port if demo_shop else 0,
        stripe_port=stripe_port,
        acquirer_port=acquirer_port,
        psp_port=psp_port,
        # Used with vault_processes=1 (the cardholder-data zone in a process of its own).
        vault_port=vault_port,
        vault_tokens_port=vault_tokens_port,
        log_level="INFO",
        db_pool_size=5,
    )


def log_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:  # streamed to stdout (PAYGATE_E2E_LOG=stdout)
        return ""


def log_tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextlib.contextmanager
def running_gateway(
    database_url: str,
    api_processes: int = API_PROCESSES,
    *,
    web_process: bool = True,
    demo_shop: bool = False,
    redis_url: str = "",
    worker_processes: int = 1,
    web_processes: int = 1,
    spans: bool = False,
    start_budget: float | None = None,
    **overrides: object,
) -> Iterator[Gateway]:
    """A gateway of its own on `database_url`, stopped (and checked to exit 0) at the end.

    `overrides` replace settings fields (simulator_latency=2.0, ...). With `spans`, every
    process writes its spans under <data_dir>/spans (Settings.spans_dir). `start_budget`
    (seconds) replaces the launcher's readiness timeout of a child starting alone, for a
    long run on a loaded machine.
    """
    # Under /tmp rather than pytest's private tmp dir: nothing there must be opened up.
    data_dir = Path(tempfile.mkdtemp(prefix="paygate-e2e-"))
    log_path = data_dir / "gateway.log"
    if spans:
        overrides["spans_dir"] = str(data_dir / "spans")
    settings = dataclasses.replace(
        gateway_settings(
            database_url,
            data_dir,
            api_processes,
            web_process=web_process,
            demo_shop=demo_shop,
            worker_processes=worker_processes,
            web_processes=web_processes,
        ),
        redis_url=redis_url,
        **overrides,
    )
    with contextlib.ExitStack() as stack:
        if os.environ.get("PAYGATE_E2E_LOG") == "stdout":
            out = sys.stdout
        else:
            out = stack.enter_context(open(log_path, "w", buffering=1))
        waits: dict[str, float] = {}
        if start_budget is not None:
            patch = stack.enter_context(pytest.MonkeyPatch.context())
            patch.setattr(launcher, "READY_TIMEOUT", start_budget)
            waits["timeout"] = 4 * start_budget  # the acquirer first, then the others at once
        try:
            running = start_gateway(settings, out=out, **waits)
        except Exception as err:
            pytest.fail(f"the gateway did not start: {err}\n{log_tail(log_path)}")
        try:
            yield running
        finally:
            code = running.stop()
            if code != 0:
                pytest.fail(f"the gateway stopped with exit code {code}\n{log_tail(log_path)}")
    # Whatever the tests did, no process of this gateway logged a credential.
    leaks = credential_leaks(log_text(log_path), "gateway.log", [running.secret_key])
    shutil.rmtree(data_dir, ignore_errors=True)
    if leaks:
        pytest.fail("credentials in the gateway's log:\n" + "\n".join(leaks[:20]))


@pytest.fixture(scope="session")
async def gateway_database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh migrated database for the gateways of this session. Not the session's
    `database_url`: a gateway's worker recovers, expires and voids rows of every
    merchant, and the contract tests leave rows dated in the 1970s that name acquirers no
    process has."""
    async with fresh_database(postgres_admin_url, "paygate_e2e") as url:
        yield url


@pytest.fixture
async def vault_database(postgres_admin_url: str) -> AsyncIterator[str]:
    """The vault's own database, as split mode has it: only the vault's chain migrated."""
    async with fresh_database(
        postgres_admin_url, "paygate_vault_split", migrator=migrate_vault
    ) as url:
        yield url


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[Receiver]:
    """The seed merchant's webhook endpoint on the session's gateway: every body it was
    sent, for the sentinel scan (test_zz_sentinel.py)."""
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture(scope="session")
def gateway(
    gateway_database_url: str, redis_url: str, webhook_receiver: Receiver
) -> Iterator[Gateway]:
    # Redis as in production: rate limits shared by the API processes, CVCs sealed there.
    # Spans to files and every event to a webhook endpoint of ours: the sentinel scan
    # reads both after the suite.
    with running_gateway(
        gateway_database_url,
        redis_url=redis_url,
        spans=True,
        webhook_allowed_networks="127.0.0.1/32",
    ) as running:
        subscribe(running.rest_url, running.secret_key, webhook_receiver.url)
        yield running


@pytest.fixture
async def rest(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """A REST client of the session's gateway with no credentials of its own (a test that
    wants a key's client defines its own `rest`)."""
    async with httpx.AsyncClient(
        base_url=gateway.rest_url, transport=httpx.AsyncHTTPTransport(), timeout=30
    ) as http:
        yield http
