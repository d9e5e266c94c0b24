"""The vault role: `paygate serve --role vault` (servers.roles.vault.server.run).

A grpc.aio server with VaultInternalService, health and reflection, on its own port and
never behind Envoy. It alone holds the KEK, the fingerprint key and the vault database's
credentials (VAULT_DATABASE_URL); callers present the service credential.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

import grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from paygate.internal.v1 import vault_pb2, vault_pb2_grpc

from adapters.system import RandomIds, SystemClock
from adapters.vault.grpc_errors import CIPHERTEXT_REJECTED_REASON
from core.vault.errors import CiphertextRejected
from core.vault.use_cases import Vault
from servers.bootstrap.vault import build_vault, server_credentials, service_tokens
from servers.grpc import serve as serve_grpc
from servers.grpc.context import ServicerContext
from servers.grpc.errors import build_status, to_grpc_status
from servers.grpc.interceptors import AroundCall, ErrorInterceptor, RequestLogInterceptor
from servers.grpc.serve import Hosted, Server, serve_until_signalled
from servers.grpc.service_auth import ServiceTokenInterceptor
from servers.roles.vault.maintenance import vault_jobs
from servers.roles.vault.servicer import VaultInternalServicer
from servers.roles.worker.scheduler import run_jobs
from servers.runtime import logging_setup
from servers.runtime.settings import Settings

log = logging.getLogger("paygate.vault")

GRACE_SECONDS = 10.0
SERVICE = vault_pb2.DESCRIPTOR.services_by_name["VaultInternalService"].full_name
# The one service the vault admits (its audit names it as the actor of every call).
SERVICE_NAME = "payments"
_CIPHERTEXT_REJECTED = build_status(
    grpc.StatusCode.INTERNAL,
    "Stored card data could not be decrypted.",
    CIPHERTEXT_REJECTED_REASON,
)
_ids = RandomIds()


class CiphertextRejectedInterceptor(AroundCall):
    """A ciphertext that does not open is an incident, not a client error: logged loudly,
    and told to the (trusted) caller by reason so that its CardVault raises the same
    CiphertextRejected as the in-process vault. Still no detail: no decryption oracle."""

    def applies_to(self, method: str) -> bool:
        return method.startswith("/paygate.internal.")

    @asynccontextmanager
    async def scope(self, context: ServicerContext, method: str) -> AsyncIterator[None]:
        try:
            yield
        except CiphertextRejected:
            log.error(
                "stored card data was rejected: tampering or a key problem",
                extra={"fields": {"method": method}},
            )
            await context.abort_with_status(  # type: ignore[attr-defined]
                to_grpc_status(_CIPHERTEXT_REJECTED)
            )


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
) -> Server:
    servicer = VaultInternalServicer(vault)
    return await serve_grpc.start(
        listen,
        [
            Hosted(
                SERVICE,
                partial(vault_pb2_grpc.add_VaultInternalServiceServicer_to_server, servicer),
            )
        ],
        interceptors=[
            RequestLogInterceptor(lambda: _ids.new("req")),
            ErrorInterceptor(),
            ServiceTokenInterceptor(tokens, role="vault", service_name=SERVICE_NAME),
            CiphertextRejectedInterceptor(),
        ],
        credentials=credentials,
    )


async def run(settings: Settings, listen: str) -> None:
    """Serves until SIGTERM or SIGINT, then drains in-flight calls and closes the pool."""
    logging_setup.configure(settings.log_level)
    tokens = service_tokens(settings)
    credentials = server_credentials(settings)
    if credentials is None:
        log.warning(
            "the vault channel is not encrypted: card numbers cross it in clear; set "
            "PAYGATE_VAULT_TLS_CERT/KEY (and PAYGATE_VAULT_TLS_CA for mutual TLS) unless a "
            "mesh encrypts it"
        )
    components = build_vault(settings)
    try:
        server = await start_server(
            components.vault, listen, tokens=tokens, credentials=credentials
        )
        log.info(
            "vault serving",
            extra={
                "fields": {"listen": listen, "port": server.port, "tls": credentials is not None}
            },
        )
        jobs = vault_jobs(components.vault, batch_size=settings.vault_batch_size)
        await serve_until_signalled(
            server, grace=GRACE_SECONDS, work=lambda stop: run_jobs(jobs, SystemClock(), stop)
        )
    finally:
        await components.aclose()
        log.info("vault stopped")
