"""The interceptor chain, outermost first: request log -> error mapping -> access gate
(authentication, authorization and rate limits, in core/access/gate.py).

gRPC interceptors see the handler, not the response, so each one wraps the handler's
behaviour: unary-unary methods and server streams. Other kinds (the reflection service's
bidirectional stream) pass untouched.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import grpc
from google.protobuf.message import Message

from adapters.observability import tracing
from adapters.sql.errors import is_outage, unavailable
from core.access.gate import AccessGate, Credentials, Requirement
from core.shared.errors import InvalidArgument, PaygateError, PermissionDenied, Unauthenticated
from servers.grpc import context as call
from servers.grpc.client_address import (
    CLIENT_ADDRESS_HEADER,
    LOOPBACK,
    IpNetwork,
    client_address,
)
from servers.grpc.context import RpcMethodHandler, ServerInterceptor, ServicerContext
from servers.grpc.errors import INTERNAL, to_grpc_status, to_status, trailing_metadata
from servers.grpc.text_check import check_text

log = logging.getLogger("paygate.rpc")
access_log = logging.getLogger("paygate.access")

Context = ServicerContext
Unary = Callable[[Any, Context], Awaitable[Any]]
Stream = Callable[[Any, Context], AsyncIterator[Any]]


class AroundCall(ServerInterceptor):
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
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not self.applies_to(method):
            return handler
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(cast(Unary, handler.unary_unary), method),
                request_deserializer=self.deserializer(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(cast(Stream, handler.unary_stream), method),
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


class RequestLogInterceptor(AroundCall):
    """One JSON line per call, tagged with a request id that the caller also receives."""

    def __init__(
        self,
        new_request_id: Callable[[], str],
        observe: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self._new_request_id = new_request_id
        # (method, code, seconds) of every finished call: the RPC metrics.
        self._observe = observe

    def applies_to(self, method: str) -> bool:
        # Envoy checks every API process every few seconds; a line each would drown the log.
        return method != "/grpc.health.v1.Health/Check"

    @asynccontextmanager
    async def scope(self, context: Context, method: str) -> AsyncIterator[None]:
        given = metadata_value(context, "x-request-id")
        rid = given if 0 < len(given) <= 64 and given.isprintable() else self._new_request_id()
        call.request_id.set(rid)
        tracing.annotate("paygate.request_id", rid)
        call.principal.set(None)
        context.set_trailing_metadata((("request-id", rid),))
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            code = (context.code() or grpc.StatusCode.OK).name
            if self._observe is not None:
                self._observe(method, code, seconds)
            caller = call.principal.get()
            fields = {
                "method": method,
                "code": code,
                "ms": round(seconds * 1000, 2),
                "merchant": caller.merchant_id if caller else None,
                "actor": caller.actor if caller else None,
            }
            access_log.info("rpc", extra={"fields": fields})


class _Undecodable:
    """Stands in for a request whose bytes are not the method's message."""


_UNDECODABLE = _Undecodable()


class ErrorInterceptor(AroundCall):
    """Core errors become statuses with ErrorInfo; anything else a bare INTERNAL.

    An unmapped exception would otherwise leak its class name to the client. Undecodable
    request bytes are INVALID_ARGUMENT like malformed JSON over REST, not grpcio's INTERNAL.
    Aborting replaces the trailing metadata set so far, so the request id is sent again.
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
        if isinstance(request, Message):
            check_text(request)  # no NUL in any string field (servers/grpc/text_check.py)

    @asynccontextmanager
    async def scope(self, context: Context, method: str) -> AsyncIterator[None]:
        try:
            yield
        except PaygateError as error:
            status = to_grpc_status(to_status(error))
            metadata = (*status.trailing_metadata, *trailing_metadata(error), *_request_id())
            await context.abort(status.code, status.details, metadata)
        except Exception as error:
            if context.code() not in (None, grpc.StatusCode.OK):
                raise  # the call was already aborted deeper down
            if is_outage(error):  # PostgreSQL stopped or cut off outside a unit of work
                log.warning("database unavailable in %s: %s", method, type(error).__name__)
                status = to_grpc_status(to_status(unavailable()))
            else:
                log.exception("unhandled error in %s", method)
                status = to_grpc_status(INTERNAL)
            await context.abort(
                status.code, status.details, (*status.trailing_metadata, *_request_id())
            )


def _request_id() -> tuple[tuple[str, str], ...]:
    rid = call.request_id.get()
    return (("request-id", rid),) if rid else ()


class AuthInterceptor(AroundCall):
    """Hands every call of a public method to the access gate (core/access/gate.py) with
    the method's declared Requirement and the caller's credentials from the metadata.

    Fails closed: a paygate method without a (paygate.v1.access) option cannot be called.
    Credentials: `authorization: Bearer <sk_/pk_ key | access token>`, and with a user's
    access token `paygate-account: acct_...` (REST: the Paygate-Account header) and
    `paygate-mode: live|test` (test when absent; an API key's mode is its own).
    """

    def __init__(
        self,
        gate: AccessGate,
        requirements: Mapping[str, Requirement],
        trusted_proxies: Sequence[IpNetwork] = LOOPBACK,
    ) -> None:
        self._gate = gate
        self._requirements = requirements
        self._trusted = trusted_proxies

    def applies_to(self, method: str) -> bool:
        return method.startswith("/paygate.")

    @asynccontextmanager
    async def scope(self, context: Context, method: str) -> AsyncIterator[None]:
        requirement = self._requirements.get(method)
        if requirement is None:
            raise PermissionDenied("This method is not open to callers.", reason="METHOD_CLOSED")
        origin = client_address(
            context.peer() or "",
            metadata_value(context, "x-forwarded-for"),
            self._trusted,
            metadata_value(context, CLIENT_ADDRESS_HEADER),
        )
        call.origin.set(origin)
        credentials = Credentials(
            bearer="" if requirement.unauthenticated else _bearer(context),
            account=metadata_value(context, "paygate-account").strip(),
            origin=origin,
            mode=metadata_value(context, "paygate-mode").strip().lower(),
        )
        call.principal.set(await self._gate.admit(requirement, credentials))
        yield


# What an API key, access token or refresh token is made of (base64url, JWT dots). The
# token is taken exactly as sent: nothing is stripped, so a key with a stray character
# (a pasted non-breaking space, which grpcio hands over decoded as Latin-1) is not a key.
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")


def _bearer(context: Context) -> str:
    header = metadata_value(context, "authorization")
    if not header:
        return ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or _TOKEN.fullmatch(token) is None:
        raise Unauthenticated(
            "Authorization must be 'Bearer <API key or access token>'.", reason="INVALID_API_KEY"
        )
    return token
