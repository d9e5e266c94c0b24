"""The door of the internal roles (vault, acquirer): only callers holding the service
credential get in.

Every method of paygate.internal.* needs `authorization: Bearer <service token>`; the
token is compared in constant time with each configured one (the current and, while it
is being rotated, the previous), all of them, matching or not. Health and reflection stay
open for probes and operators. This is a shared-secret check: run these roles on a
private network, and put TLS (or a mesh's mTLS) on the channel, since the vault's
DetokenizeForPayment response carries a card number.
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

# The authenticated service of the current call (the vault's audit names it as actor).
service: ContextVar[str] = ContextVar("calling_service", default="")


def _digest(token: str) -> bytes:
    # Equal lengths for compare_digest, whatever was sent.
    return hashlib.sha256(token.encode()).digest()


class ServiceTokenInterceptor(AroundCall):
    """`role` names the refusing role in the error ("vault", "acquirer"); `service_name`
    is what a successful call records in `service`."""

    def __init__(self, tokens: Sequence[str], *, role: str, service_name: str = "") -> None:
        super().__init__()
        if not tokens or not all(tokens):
            raise ValueError(f"the {role} role needs at least one service credential")
        self._digests = [_digest(t) for t in tokens]
        self._role = role
        self._service_name = service_name

    def applies_to(self, method: str) -> bool:
        return method.startswith("/paygate.")

    def authenticate(self, context: ServicerContext) -> None:
        """Refuses a call without a configured service credential; records the service."""
        scheme, _, token = metadata_value(context, "authorization").partition(" ")
        presented = _digest(token.strip()) if scheme.lower() == "bearer" else b""
        # No short-circuit: every configured token is compared, matching or not.
        matches = [hmac.compare_digest(presented, d) for d in self._digests]
        if not token.strip() or not any(matches):
            raise Unauthenticated(
                f"The {self._role} requires its service credential.",
                reason="INVALID_SERVICE_CREDENTIAL",
            )
        service.set(self._service_name)

    @asynccontextmanager
    async def scope(self, context: ServicerContext, method: str) -> AsyncIterator[None]:
        self.authenticate(context)
        yield
