"""Readiness (servers/runtime/readiness.py) keeps gRPC health, the metrics gauge and the
HTTP probes (servers/runtime/ops_http.py) in step with what the check finds."""

from __future__ import annotations

import socket

import httpx
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from prometheus_client import CollectorRegistry

from adapters.observability.metrics import Metrics
from servers.runtime import operability, ops_http
from servers.runtime.readiness import Readiness
from servers.runtime.settings import Settings

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Database:
    def __init__(self) -> None:
        self.problem = ""

    async def check(self) -> str:
        return self.problem


async def status(health: health_aio.HealthServicer, service: str) -> int:
    response = await health.Check(health_pb2.HealthCheckRequest(service=service), None)
    return int(response.status)


async def test_health_turns_not_serving_while_the_database_is_away_and_back() -> None:
    database = Database()
    metrics = Metrics(CollectorRegistry())
    readiness = Readiness(database.check, metrics)
    health = health_aio.HealthServicer()
    readiness.attach(health, ["paygate.v1.PaymentIntentService"])
    assert ops_http.start("127.0.0.1", 0, metrics.registry, readiness) is None  # 0: none
    server = ops_http.serve("127.0.0.1", 0, metrics.registry, readiness)
    url = f"http://127.0.0.1:{server.port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            assert await readiness.check_once()
            assert await status(health, "") == SERVING
            assert (await client.get("/readyz")).status_code == 200

            database.problem = "PostgreSQL unreachable or unmigrated (ConnectionRefusedError)"
            assert not await readiness.check_once()
            for service in ("", "paygate.v1.PaymentIntentService"):
                assert await status(health, service) == NOT_SERVING
            ready = await client.get("/readyz")
            assert (ready.status_code, ready.text.strip()) == (503, database.problem)
            assert (await client.get("/livez")).status_code == 200  # alive all the same
            assert metrics.registry.get_sample_value("paygate_ready") == 0

            database.problem = ""
            assert await readiness.check_once()
            assert await status(health, "") == SERVING
            assert (await client.get("/readyz")).status_code == 200
            scrape = await client.get("/metrics")
            assert "paygate_ready 1.0" in scrape.text
            assert (await client.get("/other")).status_code == 404
    finally:
        server.close()


async def test_a_stateless_role_serves_metrics_and_is_ready_while_its_loop_turns() -> None:
    """The stripe role's port: no database to wait for, the same /metrics and probes."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(metrics_host="127.0.0.1", metrics_port=port)
    metrics = Metrics(role="stripe")
    async with operability.watching_stateless(metrics, settings) as readiness:
        assert await readiness.check_once()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            assert (await http.get("/readyz")).status_code == 200
            assert (await http.get("/livez")).status_code == 200
            scrape = (await http.get("/metrics")).text
    assert 'paygate_process_info{role="stripe"} 1.0' in scrape
    assert "paygate_ready 1.0" in scrape
