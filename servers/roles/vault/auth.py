"""The vault role's door: only callers holding the service credential get in.

Every method of paygate.internal.* needs `authorization: Bearer <service token>`; the
token is compared in constant time with each configured one (the current and, while it
is being rotated, the previous). Health and reflection stay open for probes and
operators. This is a shared-secret check: run the vault role on a private network, and
put TLS (or a mesh's mTLS) on the channel, since the DetokenizeForPayment response
carries a card number.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar

from core.shared.errors import Unauthenticated
from servers.grpc.context import ServicerContext
from servers.grpc.interceptors import AroundCall, metadata_value

SERVICE_NAME = "payments"
# The authenticated service of the current call (for the audit's actor).
service: ContextVar[str] = ContextVar("vault_service", default="")


def _digest(token: str) -> bytes:
    # Equal lengths for compare_digest, whatever was sent.
    return hashlib.sha256(token.encode()).digest()


class ServiceAuthInterceptor(AroundCall):
    def __init__(self, tokens: Sequence[str], *, service_name: str = SERVICE_NAME) -> None:
        if not tokens or not all(tokens):
            raise ValueError("the vault role needs at least one service credential")
        self._digests = [_digest(t) for t in tokens]
        self._service_name = service_name

    def applies_to(self, method: str) -> bool:
        return method.startswith("/paygate.")

    @asynccontextmanager
    async def scope(self, context: ServicerContext, method: str) -> AsyncIterator[None]:
        scheme, _, token = metadata_value(context, "authorization").partition(" ")
        presented = _digest(token.strip()) if scheme.lower() == "bearer" else b""
        # No short-circuit: every configured token is compared, matching or not.
        matches = [hmac.compare_digest(presented, d) for d in self._digests]
        if not token.strip() or not any(matches):
            raise Unauthenticated(
                "The vault requires its service credential.", reason="INVALID_SERVICE_CREDENTIAL"
            )
        service.set(self._service_name)
        yield
