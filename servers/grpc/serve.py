"""How every gRPC role runs: one server with its services, health and reflection in one
method table, each method's handler wrapped once by the role's wrappers
(servers/grpc/method_table.py); then, until SIGTERM or SIGINT, serving; then a graceful
shutdown.

    server = await start(listen, services, wrappers=[...])
    await serve_until_signalled(server, grace=10.0, on_drain=app.begin_shutdown)

The drain: health turns NOT_SERVING (Envoy and the launcher's probes stop sending), the
role's own `on_drain` runs (the API ends its watch streams), in-flight calls get `grace`
seconds, and last any background `work` of the role (the worker's jobs, the vault's
upkeep) is told to stop and awaited. Each role module (servers/roles/) says what it
serves; none has a start-up of its own.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from grpc_reflection.v1alpha._async import ReflectionServicer

from servers.grpc.context import ServerInterceptor
from servers.grpc.method_table import HandlerWrapper, MethodTable

log = logging.getLogger("paygate.server")

HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


@dataclass(frozen=True)
class Hosted:
    """A service on the server: its full name (for health and reflection) and how it is
    added (the generated add_XServicer_to_server, bound to its servicer: it registers its
    methods in the server's MethodTable as it would on a server)."""

    name: str
    add: Callable[[grpc.aio.Server], None]


@dataclass(frozen=True)
class Server:
    server: grpc.aio.Server
    health: health_aio.HealthServicer
    port: int
    names: tuple[str, ...]

    def as_tuple(self) -> tuple[grpc.aio.Server, health_aio.HealthServicer, int]:
        return self.server, self.health, self.port


async def start(
    listen: str,
    services: Sequence[Hosted],
    *,
    wrappers: Sequence[HandlerWrapper] = (),
    interceptors: Sequence[ServerInterceptor] = (),
    credentials: grpc.ServerCredentials | None = None,
    options: Sequence[tuple[str, int]] = (),
) -> Server:
    """Builds and starts the server; every service and the server as a whole ("") report
    SERVING once it listens. `wrappers` (outermost first) wrap every method's handler
    once, health's and reflection's included (each decides what it applies to);
    `interceptors`, grpcio's per-call chain, only for a foreign one (tracing's).
    `options`: grpcio channel arguments beyond the defaults."""
    table = MethodTable()
    # The table takes the registrations the generated code makes on a server.
    registry = cast(grpc.aio.Server, table)
    for service in services:
        service.add(registry)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, registry)
    names = tuple(s.name for s in services)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(  # type: ignore[no-untyped-call]
        ReflectionServicer([*names, HEALTH, reflection.SERVICE_NAME]), registry
    )
    server = grpc.aio.server(
        handlers=[table.seal(wrappers)],
        interceptors=list(interceptors),
        options=[("grpc.so_reuseport", 0), *options],
    )
    port = (
        server.add_secure_port(listen, credentials)
        if credentials is not None
        else server.add_insecure_port(listen)
    )
    await server.start()
    for name in ("", *names):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    return Server(server, health, port, names)


async def drain(
    server: Server, grace: float, on_drain: Callable[[], Awaitable[None]] | None = None
) -> None:
    await server.health.enter_graceful_shutdown()
    if on_drain is not None:
        await on_drain()
    await server.server.stop(grace)


async def serve_until_signalled(
    server: Server,
    *,
    grace: float,
    on_drain: Callable[[], Awaitable[None]] | None = None,
    work: Callable[[asyncio.Event], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Serves until SIGTERM or SIGINT (or until `work` ends by itself), then drains.
    `work(stop)` runs beside the server and must return soon after `stop` is set."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(work(stop)) if work is not None else None
    if task is not None:
        task.add_done_callback(lambda _: stop.set())
    try:
        await stop.wait()
        log.info("draining", extra={"fields": {"grace_seconds": grace}})
        await drain(server, grace, on_drain)
    finally:
        stop.set()
        if task is not None:
            await task
