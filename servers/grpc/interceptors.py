"""The interceptor chain, outermost first: request log -> error mapping -> authentication.

gRPC interceptors see the handler, not the response, so each one wraps the handler's
behaviour: unary-unary methods and server streams. Other kinds (the reflection service's
bidirectional stream) pass untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import grpc

from core.access.model import Principal
from core.access.use_cases import ApiKeys
from core.shared.errors import InvalidArgument, PaygateError, PermissionDenied, Unauthenticated
from servers.grpc import context as call
from servers.grpc.errors import INTERNAL, to_grpc_status, to_status

log = logging.getLogger("paygate.rpc")
access_log = logging.getLogger("paygate.access")

Context = grpc.aio.ServicerContext
Unary = Callable[[Any, Context], Awaitable[Any]]
Stream = Callable[[Any, Context], AsyncIterator[Any]]


class _Around(grpc.aio.ServerInterceptor):
    """Runs `scope(context, method)` around every call of the methods it applies to."""

    def applies_to(self, method: str) -> bool:
        return True

    def scope(self, context: Context, method: str) -> Any:
        """An async context manager entered for the whole call, stream or not."""
        raise NotImplementedError

    def deserializer(self, original: Callable[[bytes], Any] | None) -> Any:
        return original

    def inspect(self, request: Any) -> None:
        """Runs inside `scope`, before the next layer sees the request."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        if handler is None or not self.applies_to(method):
            return handler
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method),
                request_deserializer=self.deserializer(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, method),
                request_deserializer=self.deserializer(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        return handler

    def _unary(self, behavior: Unary, method: str) -> Unary:
        async def unary(request: Any, context: Context) -> Any:
            async with self.scope(context, method):
                self.inspect(request)
                return await behavior(request, context)

        return unary

    def _stream(self, behavior: Stream, method: str) -> Stream:
        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            async with self.scope(context, method):
                self.inspect(request)
                async for message in behavior(request, context):
                    yield message

        return stream


def metadata_value(context: Context, key: str) -> str:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return v if isinstance(v, str) else v.decode()
    return ""


class RequestLogInterceptor(_Around):
    """One JSON line per call, tagged with a request id that the caller also receives."""

    def __init__(self, new_request_id: Callable[[], str]) -> None:
        self._new_request_id = new_request_id

    def applies_to(self, method: str) -> bool:
        # Envoy checks every API process every few seconds; a line each would drown the log.
        return method != "/grpc.health.v1.Health/Check"

    @asynccontextmanager
    async def scope(self, context: Context, method: str) -> AsyncIterator[None]:
        given = metadata_value(context, "x-request-id")
        rid = given if 0 < len(given) <= 64 and given.isprintable() else self._new_request_id()
        call.request_id.set(rid)
        call.principal.set(None)
        context.set_trailing_metadata((("request-id", rid),))
        started = time.perf_counter()
        try:
            yield
        finally:
            caller = call.principal.get()
            fields = {
                "method": method,
                "code": (context.code() or grpc.StatusCode.OK).name,
                "ms": round((time.perf_counter() - started) * 1000, 2),
                "merchant": caller.merchant_id if caller else None,
                "actor": caller.actor if caller else None,
            }
            access_log.info("rpc", extra={"fields": fields})


class _Undecodable:
    """Stands in for a request whose bytes are not the method's message."""


_UNDECODABLE = _Undecodable()


class ErrorInterceptor(_Around):
    """Core errors become statuses with ErrorInfo; anything else a bare INTERNAL.

    An unmapped exception would otherwise leak its class name to the client. Undecodable
    request bytes are INVALID_ARGUMENT like malformed JSON over REST, not grpcio's INTERNAL.
    """

    def deserializer(self, original: Callable[[bytes], Any] | None) -> Any:
        if original is None:
            return None

        def tolerant(data: bytes) -> Any:
            try:
                return original(data)
            except Exception:
                return _UNDECODABLE

        return tolerant

    def inspect(self, request: Any) -> None:
        if isinstance(request, _Undecodable):
            raise InvalidArgument.field(
                "request", "is not a valid message of this method", reason="INVALID_REQUEST"
            )

    @asynccontextmanager
    async def scope(self, context: Context, method: str) -> AsyncIterator[None]:
        try:
            yield
        except PaygateError as error:
            await context.abort_with_status(to_grpc_status(to_status(error), call.request_id.get()))
        except Exception:
            if context.code() not in (None, grpc.StatusCode.OK):
                raise  # the call was already aborted deeper down
            log.exception("unhandled error in %s", method)
            await context.abort_with_status(to_grpc_status(INTERNAL, call.request_id.get()))


class AuthInterceptor(_Around):
    """Authenticates the API key and checks the permission the method declares in the proto.

    Fails closed: a paygate method without a (paygate.v1.access) option cannot be called.
    """

    def __init__(self, api_keys: ApiKeys, access: Mapping[str, Any]) -> None:
        self._api_keys = api_keys
        self._access = access

    def applies_to(self, method: str) -> bool:
        return method.startswith("/paygate.")

    @asynccontextmanager
    async def scope(self, context: Context, method: str) -> AsyncIterator[None]:
        rule = self._access.get(method)
        if rule is None:
            raise PermissionDenied("This method is not open to callers.", reason="METHOD_CLOSED")
        if not rule.unauthenticated:
            call.principal.set(await self._authorize(context, rule))
        yield

    async def _authorize(self, context: Context, rule: Any) -> Principal:
        header = metadata_value(context, "authorization")
        if not header:
            raise Unauthenticated(
                "No API key provided: send 'Authorization: Bearer sk_test_...'.",
                reason="MISSING_API_KEY",
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(
                "Authorization must be 'Bearer <API key>'.", reason="INVALID_API_KEY"
            )
        principal = await self._api_keys.authenticate(token.strip())
        if principal.is_publishable:
            if not rule.publishable:
                raise PermissionDenied(
                    "A publishable key cannot call this method; use a secret key.",
                    reason="PUBLISHABLE_KEY_NOT_ALLOWED",
                )
        elif rule.permission not in principal.permissions:
            raise PermissionDenied(
                f"This key's role does not grant {rule.permission}.",
                reason="MISSING_PERMISSION",
                metadata={"permission": rule.permission},
            )
        return principal
