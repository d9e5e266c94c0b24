"""Per-call values the interceptors set and the servicers read."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import grpc

from core.access.model import Principal

# The servicer context of every handler and interceptor here (requests and responses are
# protobuf messages of any type).
ServicerContext = grpc.aio.ServicerContext[Any, Any]
if TYPE_CHECKING:  # generic in the type stubs only
    ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
    RpcMethodHandler = grpc.RpcMethodHandler[Any, Any]
else:
    ServerInterceptor = grpc.aio.ServerInterceptor
    RpcMethodHandler = grpc.RpcMethodHandler

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
