"""Readiness follows PostgreSQL: on a PostgreSQL of this test's own (never the shared
one), stopping the server turns every API process NOT_SERVING (gRPC health and /readyz)
while /livez stays up, Envoy's active health checks take the processes out of rotation,
and starting it again brings them all back, ready and routed to.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from servers.runtime.embedded_postgres import EmbeddedPostgres
from servers.runtime.probes import grpc_health
from tests.e2e.conftest import running_gateway
from tests.e2e.gateway import Gateway

# Envoy checks every 5 s and drops an endpoint after 2 failures (envoy/envoy.yaml.tmpl).
WAIT_SECONDS = 45.0


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    # Under /tmp: the wheel's server opens every parent folder of its data dir (o+rx).
    root = Path(tempfile.mkdtemp(prefix="paygate-ready-"))
    server = EmbeddedPostgres(root / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT_SECONDS:.0f} s: {what}"
        time.sleep(0.5)


def envoy_health(gateway: Gateway) -> list[str]:
    """The health flags of the `api` cluster's endpoints, from Envoy's admin /clusters."""
    text = httpx.get(f"{gateway.admin_url}/clusters", timeout=5).text
    return [
        line for line in text.splitlines() if line.startswith("api::") and "health_flags" in line
    ]


def test_readiness_turns_not_serving_while_postgresql_is_stopped(
    own_postgres: EmbeddedPostgres, redis_url: str
) -> None:
    with running_gateway(own_postgres.url, redis_url=redis_url) as gateway:
        settings = gateway._launcher.settings
        apis = [f"127.0.0.1:{settings.api_base_port + i}" for i in range(settings.api_processes)]
        probes = [
            url.removesuffix("/metrics")
            for name, url in gateway.metrics_urls.items()
            if name.startswith("api-")
        ]

        def status(path: str) -> set[int]:
            return {httpx.get(f"{p}{path}", timeout=5).status_code for p in probes}

        def routed() -> bool:
            return all(line.endswith("::healthy") for line in envoy_health(gateway))

        assert all(grpc_health(api) for api in apis)
        assert status("/readyz") == {200}
        assert routed()

        own_postgres.stop()
        eventually(lambda: not any(grpc_health(api) for api in apis), "gRPC health NOT_SERVING")
        assert status("/readyz") == {503}
        assert status("/livez") == {200}  # alive: nothing to restart
        eventually(
            lambda: all("failed_active_hc" in line for line in envoy_health(gateway)),
            "Envoy takes the API processes out of rotation",
        )

        # Nothing is routed to them meanwhile: Envoy answers at once, no process is asked.
        refused = list_intents(gateway)
        assert refused.status_code == 503 and "UNAVAILABLE" in refused.text, refused.text

        own_postgres.start()
        eventually(lambda: all(grpc_health(api) for api in apis), "gRPC health SERVING again")
        assert status("/readyz") == {200}
        eventually(routed, "Envoy routes to the API processes again")
        answer = list_intents(gateway)
        assert answer.status_code == 200, answer.text


def list_intents(gateway: Gateway) -> httpx.Response:
    return httpx.get(
        f"{gateway.rest_url}/v1/payment_intents?limit=1",
        headers={"Authorization": f"Bearer {gateway.secret_key}"},
        timeout=30,
    )
