"""The vault role's public token service: POST /v1/tokens (paygate.v1.TokenService) served
by the cardholder-data zone itself, so a card number never passes through an API process
(docs/connectors.md#tokens-at-the-zone).

With PAYGATE_VAULT_PUBLIC_LISTEN set, the vault role starts a second gRPC server there for
Envoy (PAYGATE_ENVOY_VAULT_UPSTREAM) with the API role's own servicer and interceptor
chain (servers/roles/api.py start_server): the same authentication of publishable and
secret keys (read from the access tables on DATABASE_URL, through the same bounded key
cache), the same rate limits (on REDIS_URL) and the same idempotency (stored with the
API's). The vault it tokenizes into is this process's; with REDIS_URL it hands each
token's card profile to the API processes' confirm (adapters/vault/profile_handoff.py).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from adapters.vault.profile_handoff import ProfileHandingVault
from servers.bootstrap.vault import profile_handoff
from servers.grpc.serve import Server, drain
from servers.runtime.settings import Settings

log = logging.getLogger("paygate.vault")

GRACE_SECONDS = 10.0


@asynccontextmanager
async def token_service(settings: Settings) -> AsyncIterator[Server | None]:
    """The public token server while the context lasts; None when it is not configured."""
    if not settings.vault_public_listen:
        yield None
        return
    if not settings.database_url:
        raise SystemExit(
            "PAYGATE_VAULT_PUBLIC_LISTEN needs DATABASE_URL: the vault role then "
            "authenticates API keys from the access tables"
        )
    from servers.bootstrap.app import build_app
    from servers.roles import api

    # The vault in this process (no PAYGATE_VAULT_TARGET here: this is the vault).
    app = build_app(dataclasses.replace(settings, vault_target=""), settings.database_url)
    handoff = profile_handoff(settings)
    if handoff is not None and app.vault is not None:
        # Each token's card profile for the API processes' confirm, which then need not
        # ask this role for it (adapters/vault/profile_handoff.py).
        app.vault = ProfileHandingVault(app.vault, handoff)
        app.closers.append(handoff.aclose)
    try:
        async with api.authenticating(app):
            server = await api.start_server(app, settings.vault_public_listen, api.TOKEN_SERVICES)
            log.info(
                "tokens serving",
                extra={"fields": {"listen": settings.vault_public_listen, "port": server.port}},
            )
            try:
                yield server
            finally:
                await drain(server, GRACE_SECONDS)
    finally:
        await app.aclose()
