"""The API's call layer: one per server, doing for every call, outermost first, what a
chain of four interceptors did: request id and log line with the call's metrics, error
mapping (with the undecodable-request and NUL-character checks), the access gate
(authentication, authorization and rate limits, in core/access/gate.py), then the
Idempotency-Key (servers/grpc/idempotency.py) for the methods marked idempotent.

These are not grpcio interceptors but HandlerWrappers (servers/grpc/method_table.py):
each wraps a method's handler once, when the server starts, and the server's method
table hands the wrapped handler to every call (a dictionary lookup, no interceptor
chain per call). They wrap the handler's behaviour: unary-unary methods and server
streams. Other kinds (the reflection service's bidirectional stream) pass untouched.

`AroundCall` is the base of the internal roles' own layers (the service token, the
vault's error translations), which run inside this one.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
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
    ClientAddresses,
    IpNetwork,
)
from servers.grpc.context import RpcMethodHandler, ServicerContext
from servers.grpc.errors import INTERNAL, to_grpc_status, to_status, trailing_metadata
from servers.grpc.idempotency import IdempotentCalls
from servers.grpc.text_check import bad_text_fields, may_hold_nul, text_refused

log = logging.getLogger("paygate.rpc")
access_log = logging.getLogger("paygate.access")

Context = ServicerContext
Unary = Callable[[Any, Context], Awaitable[Any]]
Stream = Callable[[Any, Context], AsyncIterator[Any]]

# Envoy checks every API process every few seconds; a line each would drown the log.
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


class AroundCall:
    """Runs `scope(context, method)` around every call of the methods it applies to: a
    HandlerWrapper (servers/grpc/method_table.py)."""

    def applies_to(self, method: str) -> bool:
        return True

    def scope(self, context: Context, method: str) -> Any:
        """An async context manager entered for the whole call, stream or not."""
        raise NotImplementedError

    def wrap(self, handler: RpcMethodHandler, method: str) -> RpcMethodHandler:
        if not self.applies_to(method):
            return handler
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(cast(Unary, handler.unary_unary), method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(cast(Stream, handler.unary_stream), method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _unary(self, behavior: Unary, method: str) -> Unary:
        async def unary(request: Any, context: Context) -> Any:
            async with self.scope(context, method):
                return await behavior(request, context)

        return unary

    def _stream(self, behavior: Stream, method: str) -> Stream:
        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            async with self.scope(context, method):
                async for message in behavior(request, context):
                    yield message

        return stream


def metadata_value(context: Context, key: str) -> str:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return v if isinstance(v, str) else v.decode()
    return ""


# The metadata this interceptor reads, gathered in one pass over the call's metadata.
_READ = frozenset(
    (
        "x-request-id",
        "authorization",
        "paygate-account",
        "paygate-mode",
        "x-forwarded-for",
        CLIENT_ADDRESS_HEADER,
    )
)


def _metadata(context: Context) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if key in _READ and key not in found:  # the first value, as metadata_value reads
            found[key] = value if isinstance(value, str) else value.decode()
    return found


@dataclass(frozen=True)
class Access:
    """The access gate and each public method's declared Requirement.

    Fails closed: a paygate method without a (paygate.v1.access) option cannot be called.
    Credentials: `authorization: Bearer <sk_/pk_ key | access token>`, and with a user's
    access token `paygate-account: acct_...` (REST: the Paygate-Account header) and
    `paygate-mode: live|test` (test when absent; an API key's mode is its own)."""

    gate: AccessGate
    requirements: Mapping[str, Requirement]
    trusted_proxies: Sequence[IpNetwork] = LOOPBACK


@dataclass(frozen=True)
class _Plan:
    """What the interceptor does for one method, decided once."""

    method: str
    logged: bool
    # (status code name, seconds) of every finished call: the RPC metrics.
    observe: Callable[[str, float], None] | None
    # None: no access check (health, reflection, or a server without the gate).
    access: Access | None
    requirement: Requirement | None


class _Refused:
    """Stands in for a request the server refuses before any servicer sees it: bytes that
    are not the method's message, or a NUL character in a string field."""

    def __init__(self, error: Callable[[], InvalidArgument]) -> None:
        self.error = error


_UNDECODABLE = _Refused(
    lambda: InvalidArgument.field(
        "request", "is not a valid message of this method", reason="INVALID_REQUEST"
    )
)


def _tolerant(original: Callable[[bytes], Any] | None) -> Any:
    """The method's deserializer, which also checks the text of every string field: the
    bytes first, the message only when they hold a zero byte (text_check.may_hold_nul)."""
    if original is None:
        return None

    def tolerant(data: bytes) -> Any:
        try:
            message = original(data)
        except Exception:
            return _UNDECODABLE
        if may_hold_nul(data) and isinstance(message, Message):
            paths = list(bad_text_fields(message))
            if paths:
                return _Refused(lambda: text_refused(paths))
        return message

    return tolerant


class CallInterceptor:
    """A HandlerWrapper (servers/grpc/method_table.py), the outermost. Every call: a
    request id (the caller's x-request-id when sane) sent back as the
    `request-id` trailer, and when it ends one JSON line and its time in the method's
    recorder (`recorder(method)`, adapters/observability/metrics.py), health checks
    excepted. Core errors become statuses with ErrorInfo, anything else a bare INTERNAL;
    with `access`, the gate admits the caller of every paygate method; with
    `idempotency`, the Idempotency-Key of the methods marked idempotent.

    An unmapped exception would otherwise leak its class name to the client. Undecodable
    request bytes are INVALID_ARGUMENT like malformed JSON over REST, not grpcio's
    INTERNAL; so is a NUL character in any string field (servers/grpc/text_check.py).
    Aborting replaces the trailing metadata set so far, so the request id is sent again.
    """

    def __init__(
        self,
        new_request_id: Callable[[], str],
        recorder: Callable[[str], Callable[[str, float], None]] | None = None,
        *,
        access: Access | None = None,
        idempotency: IdempotentCalls | None = None,
    ) -> None:
        self._new_request_id = new_request_id
        self._recorder = recorder
        self._access = access
        self._idempotency = idempotency
        self._addresses = ClientAddresses(access.trusted_proxies if access else LOOPBACK)

    def _plan(self, method: str) -> _Plan:
        access = self._access if method.startswith("/paygate.") else None
        requirement = access.requirements.get(method) if access is not None else None
        logged = method != HEALTH_CHECK
        observe = self._recorder(method) if logged and self._recorder is not None else None
        return _Plan(method, logged, observe, access, requirement)

    def wrap(self, handler: RpcMethodHandler, method: str) -> RpcMethodHandler:
        plan = self._plan(method)
        deserializer = _tolerant(handler.request_deserializer)
        if handler.unary_unary:
            behavior = cast(Unary, handler.unary_unary)
            serializer = handler.response_serializer
            if self._idempotency is not None and self._idempotency.applies_to(method):
                behavior, serializer = self._idempotency.wrap(behavior, method, serializer)
            return grpc.unary_unary_rpc_method_handler(
                self._unary(behavior, plan),
                request_deserializer=deserializer,
                response_serializer=serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(cast(Stream, handler.unary_stream), plan),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _unary(self, behavior: Unary, plan: _Plan) -> Unary:
        async def unary(request: Any, context: Context) -> Any:
            metadata = _metadata(context)
            started = self._begin(context, metadata) if plan.logged else 0.0
            try:
                try:
                    await self._admit(plan, request, context, metadata)
                    return await behavior(request, context)
                except Exception as error:
                    await _abort(context, error, plan.method)
                    raise  # not reached: abort raises
            finally:
                if plan.logged:
                    self._end(context, plan, started)

        return unary

    def _stream(self, behavior: Stream, plan: _Plan) -> Stream:
        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            metadata = _metadata(context)
            started = self._begin(context, metadata) if plan.logged else 0.0
            try:
                try:
                    await self._admit(plan, request, context, metadata)
                    async for message in behavior(request, context):
                        yield message
                except Exception as error:
                    await _abort(context, error, plan.method)
                    raise  # not reached: abort raises
            finally:
                if plan.logged:
                    self._end(context, plan, started)

        return stream

    def _begin(self, context: Context, metadata: Mapping[str, str]) -> float:
        given = metadata.get("x-request-id", "")
        rid = given if 0 < len(given) <= 64 and given.isprintable() else self._new_request_id()
        call.request_id.set(rid)
        tracing.annotate("paygate.request_id", rid)
        call.principal.set(None)
        context.set_trailing_metadata((("request-id", rid),))
        return time.perf_counter()

    def _end(self, context: Context, plan: _Plan, started: float) -> None:
        seconds = time.perf_counter() - started
        code = (context.code() or grpc.StatusCode.OK).name
        if plan.observe is not None:
            plan.observe(code, seconds)
        if access_log.isEnabledFor(logging.INFO):
            caller = call.principal.get()
            fields = {
                "method": plan.method,
                "code": code,
                "ms": round(seconds * 1000, 2),
                "merchant": caller.merchant_id if caller else None,
                "actor": caller.actor if caller else None,
            }
            access_log.info("rpc", extra={"fields": fields})

    async def _admit(
        self, plan: _Plan, request: Any, context: Context, metadata: Mapping[str, str]
    ) -> None:
        if request.__class__ is _Refused:  # undecodable, or a NUL in a string field
            raise request.error()
        access = plan.access
        if access is None:
            return
        requirement = plan.requirement
        if requirement is None:
            raise PermissionDenied("This method is not open to callers.", reason="METHOD_CLOSED")
        origin = self._addresses.of(
            context.peer() or "",
            metadata.get("x-forwarded-for", ""),
            metadata.get(CLIENT_ADDRESS_HEADER, ""),
        )
        call.origin.set(origin)
        credentials = Credentials(
            bearer="" if requirement.unauthenticated else _bearer(metadata),
            account=metadata.get("paygate-account", "").strip(),
            origin=origin,
            mode=metadata.get("paygate-mode", "").strip().lower(),
        )
        call.principal.set(await access.gate.admit(requirement, credentials))


async def _abort(context: Context, error: Exception, method: str) -> None:
    """Ends the call with the status of `error`; re-raises an abort made deeper down."""
    if isinstance(error, PaygateError):
        status = to_grpc_status(to_status(error))
        metadata = (*status.trailing_metadata, *trailing_metadata(error), *_request_id())
        await context.abort(status.code, status.details, metadata)
    if context.code() not in (None, grpc.StatusCode.OK):
        raise error  # the call was already aborted deeper down
    if is_outage(error):  # PostgreSQL stopped or cut off outside a unit of work
        log.warning("database unavailable in %s: %s", method, type(error).__name__)
        status = to_grpc_status(to_status(unavailable()))
    else:
        log.exception("unhandled error in %s", method, exc_info=error)
        status = to_grpc_status(INTERNAL)
    await context.abort(status.code, status.details, (*status.trailing_metadata, *_request_id()))


def _request_id() -> tuple[tuple[str, str], ...]:
    rid = call.request_id.get()
    return (("request-id", rid),) if rid else ()


# What an API key, access token or refresh token is made of (base64url, JWT dots). The
# token is taken exactly as sent: nothing is stripped, so a key with a stray character
# (a pasted non-breaking space, which grpcio hands over decoded as Latin-1) is not a key.
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")


def _bearer(metadata: Mapping[str, str]) -> str:
    header = metadata.get("authorization", "")
    if not header:
        return ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or _TOKEN.fullmatch(token) is None:
        raise Unauthenticated(
            "Authorization must be 'Bearer <API key or access token>'.", reason="INVALID_API_KEY"
        )
    return token
