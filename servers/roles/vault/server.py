"""The vault role: `paygate serve --role vault` (servers.roles.vault.server.run).

A grpc.aio server with VaultInternalService, health and reflection, on its own port and
never behind Envoy. It alone holds the KEK, the fingerprint key and the vault database's
credentials (VAULT_DATABASE_URL); callers present the service credential.

It is the cardholder-data zone: it also serves AcquirerSimulatorService with the
connectors behind core.payments.zone.CardholderDataZone, so the API processes and the
worker send card references and the routing decision, and the card number goes from the
vault to the connector without leaving this process (docs/connectors.md). The connectors
call the acquirer role (PAYGATE_ACQUIRER_TARGET), or the simulators run in here.

With PAYGATE_VAULT_PUBLIC_LISTEN it also serves the public POST /v1/tokens to Envoy
(tokens.py), so cards are tokenized in the zone, not in an API process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from paygate.internal.v1 import acquirer_pb2, acquirer_pb2_grpc, vault_pb2, vault_pb2_grpc

from adapters.system import RandomIds, SystemClock
from adapters.vault.grpc_errors import CIPHERTEXT_REJECTED_REASON
from adapters.vault.in_process import InProcessCardVault
from core.payments.acquirer import Acquirer, AcquirerError
from core.vault.errors import CiphertextRejected
from core.vault.use_cases import Vault
from sandbox.acquirer.servicer import AcquirerSimulatorServicer
from servers.bootstrap.acquirers import acquirer_access
from servers.bootstrap.vault import build_vault, server_credentials, service_tokens
from servers.bootstrap.zone import by_wire_name, zoned
from servers.grpc import context as call
from servers.grpc import serve as serve_grpc
from servers.grpc.context import ServicerContext
from servers.grpc.errors import build_status, to_grpc_status
from servers.grpc.interceptors import CallInterceptor, Unary
from servers.grpc.serve import Hosted, Server, serve_until_signalled
from servers.grpc.service_auth import ServiceTokenInterceptor
from servers.roles.acquirer import SERVICE as ACQUIRER_SERVICE
from servers.roles.acquirer import abort_with_acquirer_error
from servers.roles.vault.maintenance import vault_jobs
from servers.roles.vault.servicer import VaultInternalServicer
from servers.roles.vault.tokens import token_service
from servers.roles.worker.scheduler import run_jobs
from servers.runtime import gc_pauses, logging_setup
from servers.runtime.settings import Settings

log = logging.getLogger("paygate.vault")

GRACE_SECONDS = 10.0
SERVICE = vault_pb2.DESCRIPTOR.services_by_name["VaultInternalService"].full_name
# The one service the vault admits (its audit names it as the actor of every call).
SERVICE_NAME = "payments"
# The actor of the zone's detokenizations in the vault's audit.
ZONE_ACTOR = "zone:connectors"
_CIPHERTEXT_REJECTED = build_status(
    grpc.StatusCode.INTERNAL,
    "Stored card data could not be decrypted.",
    CIPHERTEXT_REJECTED_REASON,
)
_ids = RandomIds()


class ZoneDoor(ServiceTokenInterceptor):
    """The zone's one layer around its every call (a layer per concern cost each call a
    wrapper coroutine and a context manager more, twice): the service credential
    (ServiceTokenInterceptor's check), then the zone's two kinds of errors that are not
    core errors.

    A ciphertext that does not open is an incident, not a client error: logged loudly,
    and told to the (trusted) caller by reason so that its CardVault raises the same
    CiphertextRejected as the in-process vault. Still no detail: no decryption oracle.

    An AcquirerError of a connector is told as the acquirer role tells it
    (servers.roles.acquirer.AcquirerErrorInterceptor), so that the API's acquirer
    client raises the same error."""

    def __init__(self, tokens: Sequence[str]) -> None:
        super().__init__(tokens, role="vault", service_name=SERVICE_NAME)

    def _unary(self, behavior: Unary, method: str) -> Unary:
        # Every method of the vault's services is unary: no context manager on their path.
        async def unary(request: Any, context: ServicerContext) -> Any:
            self.authenticate(context)
            try:
                return await behavior(request, context)
            except (CiphertextRejected, AcquirerError) as error:
                await _abort_with(context, error, method)

        return unary

    @asynccontextmanager
    async def scope(self, context: ServicerContext, method: str) -> AsyncIterator[None]:
        self.authenticate(context)
        try:
            yield
        except (CiphertextRejected, AcquirerError) as error:
            await _abort_with(context, error, method)


async def _abort_with(
    context: ServicerContext, error: CiphertextRejected | AcquirerError, method: str
) -> None:
    if isinstance(error, AcquirerError):
        await abort_with_acquirer_error(context, error)
        return
    log.error(
        "stored card data was rejected: tampering or a key problem",
        extra={"fields": {"method": method}},
    )
    await context.abort_with_status(to_grpc_status(_CIPHERTEXT_REJECTED))  # type: ignore[attr-defined]


async def start(
    vault: Vault,
    listen: str,
    *,
    tokens: Sequence[str],
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.aio.Server, health_aio.HealthServicer, int]:
    """Builds and starts the vault server; returns it, its health servicer and the port."""
    server = await start_server(vault, listen, tokens=tokens, credentials=credentials)
    return server.as_tuple()


async def start_server(
    vault: Vault,
    listen: str,
    *,
    tokens: Sequence[str],
    credentials: grpc.ServerCredentials | None = None,
    zone: Mapping[acquirer_pb2.Acquirer.ValueType, Acquirer] | None = None,
) -> Server:
    """The vault's service and, given `zone` (the connectors behind the zone, by wire
    name), the zone's AcquirerSimulatorService."""
    servicer = VaultInternalServicer(vault)
    hosted = [
        Hosted(
            SERVICE,
            partial(vault_pb2_grpc.add_VaultInternalServiceServicer_to_server, servicer),
        )
    ]
    if zone is not None:
        add_zone = partial(
            acquirer_pb2_grpc.add_AcquirerSimulatorServiceServicer_to_server,
            AcquirerSimulatorServicer(zone),
        )
        hosted.append(Hosted(ACQUIRER_SERVICE, add_zone))
    return await serve_grpc.start(
        listen,
        hosted,
        wrappers=[
            CallInterceptor(lambda: _ids.new("req")),
            ZoneDoor(tokens),
        ],
        credentials=credentials,
    )


async def run(settings: Settings, listen: str) -> None:
    """Serves until SIGTERM or SIGINT, then drains in-flight calls and closes the pool."""
    # A line per call, as in the API role: formatted and written off the event loop.
    logging_setup.configure(settings.log_level, background=True)
    tokens = service_tokens(settings)
    credentials = server_credentials(settings)
    if credentials is None:
        log.warning(
            "the vault channel is not encrypted: card numbers cross it in clear; set "
            "PAYGATE_VAULT_TLS_CERT/KEY (and PAYGATE_VAULT_TLS_CA for mutual TLS) unless a "
            "mesh encrypts it"
        )
    unwatch = gc_pauses.watch()
    components = build_vault(settings)
    connectors = acquirer_access(settings, request_id=call.request_id.get)
    zone = zoned(connectors, InProcessCardVault(components.vault, actor=ZONE_ACTOR))
    try:
        server = await start_server(
            components.vault,
            listen,
            tokens=tokens,
            credentials=credentials,
            zone=by_wire_name(zone),
        )
        log.info(
            "vault serving",
            extra={
                "fields": {"listen": listen, "port": server.port, "tls": credentials is not None}
            },
        )
        jobs = vault_jobs(components.vault, batch_size=settings.vault_batch_size)
        async with token_service(settings):
            # As the API role: the start-up's objects (grpcio, SQLAlchemy, the token
            # service's app) frozen before the first call, so that a full collection
            # walks only what serving allocated, and each one logged with its pause.
            gc_pauses.freeze()
            await serve_until_signalled(
                server, grace=GRACE_SECONDS, work=lambda stop: run_jobs(jobs, SystemClock(), stop)
            )
    finally:
        unwatch()
        await connectors.aclose()
        await components.aclose()
        log.info("vault stopped")
