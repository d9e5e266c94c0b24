"""The acquirer role: `paygate serve --role acquirer` (servers.roles.acquirer.run).

One process hosts one CardNetworkSimulator and one UpiSimulator behind
AcquirerSimulatorService, with health and reflection, on its own port and never behind
Envoy. Every API process and the worker reach it through PAYGATE_ACQUIRER_TARGET, so an
authorization made through one process is captured, looked up or completed through any
other, and survives the restart of any of them: the simulator is one external system,
as a real acquirer is. Its books are journaled under `<data_dir>/acquirer/`
(sandbox/acquirer/books_journal.py) and taken up again at start, so a restart of the
role, or of the whole gateway, forgets no authorization, capture or settlement line;
deleting that directory is the sandbox reset.

With PAYGATE_ACQUIRER_SERVICE_TOKEN set, every call of paygate.internal.* must carry it
(`authorization: Bearer <token>`); health and reflection stay open for probes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from paygate.internal.v1 import acquirer_pb2 as pb
from paygate.internal.v1 import acquirer_pb2_grpc

from adapters.acquirers.grpc_errors import reason_of
from adapters.system import RandomIds
from core.payments.acquirer import Acquirer, AcquirerError, InvalidPaymentDetails
from sandbox.acquirer.servicer import AcquirerSimulatorServicer
from servers.bootstrap.acquirers import build_simulators
from servers.grpc import serve as serve_grpc
from servers.grpc.context import ServicerContext
from servers.grpc.errors import build_status, to_grpc_status
from servers.grpc.interceptors import AroundCall, CallInterceptor
from servers.grpc.method_table import HandlerWrapper
from servers.grpc.serve import Hosted, Server, serve_until_signalled
from servers.grpc.service_auth import ServiceTokenInterceptor
from servers.runtime import logging_setup
from servers.runtime.settings import Settings

log = logging.getLogger("paygate.acquirer")

GRACE_SECONDS = 5.0
SERVICE = pb.DESCRIPTOR.services_by_name["AcquirerSimulatorService"].full_name
_ids = RandomIds()


class AcquirerErrorInterceptor(AroundCall):
    """AcquirerErrors -> statuses the client turns back into the same errors
    (adapters/acquirers/grpc_errors.py). Messages of acquirer errors hold no card data."""

    def applies_to(self, method: str) -> bool:
        return method.startswith("/paygate.internal.")

    @asynccontextmanager
    async def scope(self, context: ServicerContext, method: str) -> AsyncIterator[None]:
        try:
            yield
        except AcquirerError as error:
            await abort_with_acquirer_error(context, error)


async def abort_with_acquirer_error(context: ServicerContext, error: AcquirerError) -> None:
    """Ends the call with the status AcquirerErrorInterceptor gives `error`."""
    code, reason, metadata = reason_of(error)
    status = build_status(code, str(error), reason, metadata)
    if isinstance(error, InvalidPaymentDetails):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=error.description
        )
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    await context.abort_with_status(to_grpc_status(status))  # type: ignore[attr-defined]


async def start(
    acquirers: Mapping[pb.Acquirer.ValueType, Acquirer],
    listen: str,
    *,
    service_token: str = "",
) -> tuple[grpc.aio.Server, health_aio.HealthServicer, int]:
    """Builds and starts the server; returns it, its health servicer and the bound port."""
    server = await start_server(acquirers, listen, service_token=service_token)
    return server.as_tuple()


async def start_server(
    acquirers: Mapping[pb.Acquirer.ValueType, Acquirer], listen: str, *, service_token: str
) -> Server:
    wrappers: list[HandlerWrapper] = [
        CallInterceptor(lambda: _ids.new("req")),
    ]
    if service_token:
        wrappers.append(ServiceTokenInterceptor([service_token], role="acquirer"))
    wrappers.append(AcquirerErrorInterceptor())
    servicer = AcquirerSimulatorServicer(acquirers)
    add = partial(acquirer_pb2_grpc.add_AcquirerSimulatorServiceServicer_to_server, servicer)
    return await serve_grpc.start(listen, [Hosted(SERVICE, add)], wrappers=wrappers)


async def stop(server: grpc.aio.Server, health: health_aio.HealthServicer) -> None:
    """Drains a server that start() returned (tests stop the role this way)."""
    await health.enter_graceful_shutdown()
    await server.stop(GRACE_SECONDS)


async def run(settings: Settings, listen: str) -> None:
    """Serves until SIGTERM or SIGINT, then drains in-flight calls."""
    logging_setup.configure(settings.log_level)
    simulators = build_simulators(settings, books=Path(settings.data_dir) / "acquirer")
    token = settings.acquirer_service_token.reveal()
    try:
        server = await start_server(simulators.by_wire_name(), listen, service_token=token)
        log.info(
            "acquirer serving",
            extra={
                "fields": {
                    "listen": listen,
                    "port": server.port,
                    "service_token": bool(token),
                    "challenge_base_url": settings.web_url,
                }
            },
        )
        if not token:
            log.warning(
                "PAYGATE_ACQUIRER_SERVICE_TOKEN is not set: any caller that reaches this port "
                "can use the acquirer; keep it on loopback or a private network"
            )
        await serve_until_signalled(server, grace=GRACE_SECONDS)
    finally:
        await simulators.aclose()
        log.info("acquirer stopped")
