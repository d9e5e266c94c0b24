"""The worker role: scheduled batch jobs, with a gRPC health service on `listen`."""

from __future__ import annotations

import asyncio
import logging
import signal

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]

from adapters.system import SystemClock
from servers.bootstrap.app import build_app
from servers.roles.worker.jobs import jobs
from servers.roles.worker.scheduler import run_jobs
from servers.runtime import logging_setup
from servers.runtime.settings import Settings

log = logging.getLogger("paygate.worker")


async def run(settings: Settings, listen: str) -> None:
    logging_setup.configure(settings.log_level)
    app = build_app(settings, settings.database_url)
    server = grpc.aio.server()
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    server.add_insecure_port(listen)
    await server.start()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    scheduled = jobs(app, settings)
    log.info("working", extra={"fields": {"jobs": [j.name for j in scheduled]}})
    try:
        await run_jobs(scheduled, SystemClock(), stop)
    finally:
        await health.enter_graceful_shutdown()
        await server.stop(1.0)
        await app.aclose()
        log.info("stopped")
