"""Per-call values the interceptors set and the servicers read."""

from __future__ import annotations

from contextvars import ContextVar

from core.access.model import Principal

request_id: ContextVar[str] = ContextVar("request_id", default="")
principal: ContextVar[Principal | None] = ContextVar("principal", default=None)
# The client's address (servers/grpc/client_address.py), for rate limits and the audit log.
origin: ContextVar[str] = ContextVar("origin", default="")
# The call's Idempotency-Key, for the events it causes (event.request.idempotency_key).
idempotency_key: ContextVar[str] = ContextVar("idempotency_key", default="")


def caller() -> Principal:
    """The authenticated principal; the auth interceptor guarantees one on paygate methods."""
    value = principal.get()
    if value is None:
        raise RuntimeError("no authenticated principal: is the method missing its access option?")
    return value
