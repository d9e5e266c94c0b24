"""Readiness that means something, and liveness that stays cheap.

Ready: PostgreSQL answers and its schema is at the revision this code needs
(adapters/sql/readiness.py), checked every CHECK_SECONDS. While not ready, the process's
gRPC health (the server as a whole, "", and each of its services) says NOT_SERVING,
which takes it out of Envoy's rotation (active gRPC health checks on the `api` and `web`
clusters) and of a Kubernetes Service's endpoints (the readiness probe, over HTTP
/readyz or grpc.health.v1); it says SERVING again once a check passes. Nothing restarts
the process: a database outage is waited out, not made worse by a restart storm.

Live: the event loop still turns. The check loop stamps a heartbeat each round; /livez
fails only when that stamp is older than LIVENESS_STALL_SECONDS (a wedged loop), never
because the database is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]

from adapters.observability.metrics import Metrics

log = logging.getLogger("paygate.health")

CHECK_SECONDS = 2.0
CHECK_TIMEOUT_SECONDS = 2.0
LIVENESS_STALL_SECONDS = 30.0

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Readiness:
    """The process's readiness, kept by `run()`, read by the HTTP probes' thread."""

    def __init__(
        self,
        check: Callable[[], Awaitable[str]],
        metrics: Metrics,
        *,
        interval: float = CHECK_SECONDS,
    ) -> None:
        self._check = check
        self._metrics = metrics
        self._interval = interval
        self._health: health_aio.HealthServicer | None = None
        self._names: tuple[str, ...] = ()
        self.ready = False
        self.problem = "not checked yet"
        self._beat = time.monotonic()

    def attach(self, health: health_aio.HealthServicer, names: Sequence[str]) -> None:
        """The gRPC health servicer to keep in step, and the services it reports on."""
        self._health = health
        self._names = ("", *names)

    def live(self) -> bool:
        return time.monotonic() - self._beat < LIVENESS_STALL_SECONDS

    async def check_once(self) -> bool:
        self._beat = time.monotonic()
        problem = await self._check()
        if problem != self.problem or self.ready == bool(problem):
            if problem:
                log.warning("not ready", extra={"fields": {"problem": problem}})
            elif not self.ready:
                log.info("ready")
        self.problem, self.ready = problem, not problem
        self._metrics.ready.set(1 if self.ready else 0)
        if self._health is not None:
            status = SERVING if self.ready else NOT_SERVING
            for name in self._names:
                await self._health.set(name, status)
        return self.ready

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check_once()
            except Exception:  # a bug here must not take the process down with it
                log.exception("readiness check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)
