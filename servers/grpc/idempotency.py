"""Idempotency-Key on the methods whose (paygate.v1.access) option says `idempotent`.

Runs after the access gate (keys are scoped to the caller's merchant) and before the
servicer. The rules live in core/idempotency; this module only moves bytes: it hashes
the request's deterministic serialization, serializes the response itself so that the
bytes it stores are the bytes it sends, and answers a replay with the stored bytes
through the same serializer hook, so a replay is byte-for-byte the first answer.
The one exception: fields marked `debug_redact` in the proto (credentials shown once,
such as ApiKey.secret) are cleared in the stored copy, so they never rest in the table.
See docs/idempotency.md.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.rpc import status_pb2
from grpc_status.rpc_status import GRPC_DETAILS_METADATA_KEY  # type: ignore[attr-defined]
from paygate.v1 import options_pb2

from core.idempotency import call as deferral
from core.idempotency.call import ClaimLost, DeferredClaim
from core.idempotency.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from core.idempotency.model import Claim, Outcome, Scope, is_stored, parse_key
from core.idempotency.use_cases import Idempotency
from core.shared.errors import InvalidArgument, PaygateError
from servers.grpc import context as call
from servers.grpc.context import ServicerContext
from servers.grpc.errors import to_status

log = logging.getLogger("paygate.idempotency")

Context = ServicerContext
Unary = Callable[[Any, Context], Awaitable[Any]]

# gRPC metadata; Envoy forwards the REST header Idempotency-Key under this name.
METADATA_KEY = "idempotency-key"
# Sent (as initial metadata, an HTTP response header through Envoy) with replayed answers.
REPLAYED = (("idempotent-replayed", "true"),)

_CODES = {code.value[0]: code for code in grpc.StatusCode}


class KeyHandling(enum.Enum):
    """When a method's key is claimed and its answer stored (docs/idempotency.md)."""

    # The key is claimed in a transaction of its own before the call, and completed (or
    # released) in another after it: a duplicate never runs beside the first call.
    CLAIMED_FIRST = "claimed first"
    # Claimed by the call's first writing transaction and answered by the transaction
    # that concludes it (core/idempotency/call.py): the call changes nothing before that
    # transaction (reads, and the risk engine's velocity count), and it is a transaction
    # of the gateway's own database. On a store of another database: CLAIMED_FIRST.
    IN_TRANSACTION = "in the call's transactions"
    # Read before the call, recorded with its answer in one transaction after it: for a
    # call that is safe to repeat (a duplicate's work is left unused and expires), whose
    # own transaction is not the gateway's to join (the vault's, maybe in another
    # process). Two concurrent duplicates both run; the first to record is the answer.
    RECORDED_AFTER = "recorded after the call"


# Each idempotent method's key handling; a method marked idempotent in the proto and not
# named here is CLAIMED_FIRST. tests/unit/servers/test_idempotent_methods.py holds every
# name here to a method marked idempotent.
KEY_HANDLING: Mapping[str, KeyHandling] = {
    "/paygate.v1.PaymentIntentService/CreatePaymentIntent": KeyHandling.IN_TRANSACTION,
    "/paygate.v1.PaymentIntentService/ConfirmPaymentIntent": KeyHandling.IN_TRANSACTION,
    "/paygate.v1.PaymentIntentService/CapturePaymentIntent": KeyHandling.IN_TRANSACTION,
    "/paygate.v1.PaymentIntentService/CancelPaymentIntent": KeyHandling.IN_TRANSACTION,
    # A token is single-use, never charged by itself, and expires unused after 15
    # minutes; tokenizing makes no event, no risk or velocity count, and its CVC and
    # card profile are kept under the new token's id until it expires.
    "/paygate.v1.TokenService/CreateToken": KeyHandling.RECORDED_AFTER,
}


def key_handling(method: str) -> KeyHandling:
    return KEY_HANDLING.get(method, KeyHandling.CLAIMED_FIRST)


def idempotent_methods(services: Iterable[ServiceDescriptor]) -> frozenset[str]:
    """Full paths of the methods marked idempotent; refuses marks that cannot work."""
    found = set()
    for service in services:
        for method in service.methods:
            options = method.GetOptions()
            if not options.HasExtension(options_pb2.access):
                continue
            access = options.Extensions[options_pb2.access]
            if not access.idempotent:
                continue
            if method.client_streaming or method.server_streaming:
                raise ValueError(f"{method.full_name}: only unary methods can be idempotent")
            if access.unauthenticated:
                # Keys are scoped per merchant: without a caller, one client could replay
                # another's answer (a login's tokens) by guessing its key.
                raise ValueError(f"{method.full_name}: an unauthenticated method has no scope")
            found.add(f"/{service.full_name}/{method.name}")
    return frozenset(found)


class _Serialized:
    """A response already serialized: the interceptor's serializer sends it as is."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class IdempotentCalls:
    """The Idempotency-Key step of the API's interceptor (servers/grpc/interceptors.py):
    wraps the behaviour and the response serializer of each method marked idempotent."""

    def __init__(self, idempotency: Idempotency, methods: frozenset[str]) -> None:
        self._idempotency = idempotency
        self._methods = methods

    def applies_to(self, method: str) -> bool:
        return method in self._methods

    def wrap(
        self, behavior: Unary, method: str, serializer: Callable[[Any], bytes] | None
    ) -> tuple[Unary, Callable[[Any], bytes]]:
        """The method's behaviour and response serializer with the key's rules around."""
        inner = serializer or (lambda data: data)

        def serialize(message: Any) -> bytes:
            if isinstance(message, _Serialized):
                return message.data
            data: bytes = inner(message)
            return data

        return self._unary(behavior, method, inner), serialize

    def _unary(self, behavior: Unary, method: str, serializer: Callable[[Any], bytes]) -> Unary:
        async def unary(request: Any, context: Context) -> Any:
            key = _idempotency_key(context)
            if key is None:
                return await behavior(request, context)
            call.idempotency_key.set(key)
            caller = call.caller()
            scope = Scope(merchant_id=caller.merchant_id, method=method, key=key)
            request_hash = self._idempotency.request_hash(
                livemode=caller.livemode, request=request.SerializeToString(deterministic=True)
            )
            handling = key_handling(method)
            if handling is KeyHandling.RECORDED_AFTER:
                return await self._run_then_record(
                    scope, request_hash, behavior, request, context, serializer
                )
            if handling is KeyHandling.IN_TRANSACTION and self._idempotency.claims_in_transaction:
                checked = await self._idempotency.check(scope, request_hash)
                if isinstance(checked, DeferredClaim):
                    return await self._run_deferred(checked, behavior, request, context, serializer)
                begun: Claim | Outcome = checked
            else:
                begun = await self._idempotency.begin(scope, request_hash)
            return await self._claimed(begun, behavior, request, context, serializer)

        return unary

    async def _claimed(
        self,
        begun: Claim | Outcome,
        behavior: Unary,
        request: Any,
        context: Context,
        serializer: Callable[[Any], bytes],
    ) -> Any:
        if isinstance(begun, Outcome):
            await context.send_initial_metadata(REPLAYED)
            return await _answer(begun, context)
        return await self._run(begun, behavior, request, context, serializer)

    async def _run_deferred(
        self,
        call: DeferredClaim,
        behavior: Unary,
        request: Any,
        context: Context,
        serializer: Callable[[Any], bytes],
    ) -> Any:
        """The call with its key claimed and answered by its own transactions; every
        ending that they did not cover takes the key's own transactions, as _run does."""
        token = deferral.current.set(call)
        try:
            try:
                response = await behavior(request, context)
            finally:
                deferral.current.reset(token)
        except ClaimLost:
            # The first writing transaction found the key taken and rolled back: nothing
            # of this call was committed. Answered as a claim that lost is (and run with a
            # claim of its own in the rare case that the key was freed meanwhile).
            begun = await self._idempotency.begin(call.record.scope, call.record.request_hash)
            return await self._claimed(begun, behavior, request, context, serializer)
        except asyncio.CancelledError:
            raise  # as in _run: a claimed key stays IN_FLIGHT until its lock expires
        except Exception as error:
            if call.answer is not None:
                # The concluding transaction committed the answer: it is the answer.
                log.exception("error after the answer of %s was stored", call.claim.scope.method)
                return await _answer(call.answer, context)
            if not isinstance(error, PaygateError) or not is_stored(error):
                if call.claimed:
                    await self._release(call.claim)
                raise
            status = to_status(error)
            outcome = Outcome.failed(status.code, status.SerializeToString())
        else:
            if call.answer is not None:
                return _Serialized(_stored_response(call.answer, serializer(response)))
            sent = serializer(response)
            kept = without_redacted_fields(response)
            outcome = Outcome.succeeded(sent if kept is None else serializer(kept))
            stored = await self._store_late(call, outcome)
            if stored is not None:
                await context.send_initial_metadata(REPLAYED)
                return await _answer(stored, context)
            return _Serialized(sent)
        stored = await self._store_late(call, outcome)
        if stored is not None:
            await context.send_initial_metadata(REPLAYED)
            return await _answer(stored, context)
        return await _answer(outcome, context)

    async def _run_then_record(
        self,
        scope: Scope,
        request_hash: bytes,
        behavior: Unary,
        request: Any,
        context: Context,
        serializer: Callable[[Any], bytes],
    ) -> Any:
        """A RECORDED_AFTER call: the key is read, the call runs without a claim, and the
        key is recorded with the answer in one write; a duplicate that recorded first
        wins, and its stored answer is sent instead of this call's."""
        checked = await self._idempotency.check(scope, request_hash)
        if isinstance(checked, Outcome):
            await context.send_initial_metadata(REPLAYED)
            return await _answer(checked, context)
        sent: bytes | None = None
        try:
            response = await behavior(request, context)
        except PaygateError as error:
            if not is_stored(error):
                raise  # nothing was recorded: a retry with the key runs afresh
            status = to_status(error)
            outcome = Outcome.failed(status.code, status.SerializeToString())
        else:
            sent = serializer(response)
            kept = without_redacted_fields(response)
            outcome = Outcome.succeeded(sent if kept is None else serializer(kept))
        try:
            answer, ours = await self._idempotency.record(scope, request_hash, outcome)
        except (IdempotencyKeyReused, IdempotencyKeyInUse):
            raise  # another request recorded (or claimed) the key first
        except Exception:
            # The call has happened: the caller gets its answer. Nothing was recorded, so
            # a retry with the key runs again (this call's token is left unused).
            log.exception("could not record the idempotency key of %s", scope.method)
            answer, ours = outcome, True
        if not ours:
            await context.send_initial_metadata(REPLAYED)
            return await _answer(answer, context)
        if sent is not None:
            return _Serialized(sent)
        return await _answer(outcome, context)

    async def _store_late(self, call: DeferredClaim, outcome: Outcome) -> Outcome | None:
        """Stores an outcome no transaction of the call stored. A call that never wrote
        claims the key now: None when it did, or the outcome another call stored first
        (this call committed nothing, so that one is the answer)."""
        if not call.claimed:
            begun = await self._idempotency.begin(call.record.scope, call.record.request_hash)
            if isinstance(begun, Outcome):
                return begun
            await self._complete(begun, outcome)
            return None
        await self._complete(call.claim, outcome)
        return None

    async def _run(
        self,
        claim: Claim,
        behavior: Unary,
        request: Any,
        context: Context,
        serializer: Callable[[Any], bytes],
    ) -> Any:
        try:
            response = await behavior(request, context)
        except PaygateError as error:
            if not is_stored(error):
                await self._release(claim)
                raise
            status = to_status(error)
            outcome = Outcome.failed(status.code, status.SerializeToString())
        except asyncio.CancelledError:
            # The client went away or the server is stopping, maybe after the call's
            # commit: keep the key IN_FLIGHT; its lock expiry is the recovery point.
            raise
        except Exception:
            # INTERNAL, or an abort deeper down: nothing is known to be final.
            await self._release(claim)
            raise
        else:
            sent = serializer(response)
            kept = without_redacted_fields(response)
            await self._complete(
                claim, Outcome.succeeded(sent if kept is None else serializer(kept))
            )
            return _Serialized(sent)
        await self._complete(claim, outcome)
        return await _answer(outcome, context)

    async def _complete(self, claim: Claim, outcome: Outcome) -> None:
        # The call has happened: whatever the store says, the caller gets its answer.
        try:
            if not await self._idempotency.complete(claim, outcome):
                log.warning(
                    "idempotency key taken over before the call completed",
                    extra={"fields": {"method": claim.scope.method}},
                )
        except Exception:
            log.exception("could not store the outcome of %s", claim.scope.method)

    async def _release(self, claim: Claim) -> None:
        try:
            await self._idempotency.release(claim)
        except Exception:
            # The key stays IN_FLIGHT until its lock expires; the call's own error wins.
            log.exception("could not release an idempotency key of %s", claim.scope.method)


def answer_with(convert: Callable[[Any], Message]) -> None:
    """Called by a servicer before its use case: `convert` turns the object its use case
    concludes with (UnitOfWork.conclude) into the response, so that the concluding
    transaction can store the answer of a key claimed in the call's transactions. A
    response with redacted fields is never stored that way."""
    call = deferral.deferred()
    if call is None:
        return

    def render(answer: object) -> bytes | None:
        message = convert(answer)
        if _has_redacted(message):
            return None
        return message.SerializeToString()

    call.render = render


def _stored_response(stored: Outcome, sent: bytes) -> bytes:
    """The bytes to send when the concluding transaction stored the answer: the stored
    ones, which a replay gets too."""
    assert stored.response is not None
    if stored.response != sent:
        log.error("the stored answer differs from the servicer's response; sent the stored one")
    return stored.response


def without_redacted_fields(message: Message) -> Message | None:
    """A copy of `message` without its `debug_redact` fields (at any depth), or None when
    it has none set."""
    if not _has_redacted(message):
        return None
    copy = type(message)()
    copy.CopyFrom(message)
    _clear_redacted(copy)
    return copy


def _sub_messages(field: FieldDescriptor, value: Any) -> Iterable[Message]:
    if field.message_type is None:
        return ()
    if field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        return value.values() if value_field.message_type is not None else ()
    return value if field.is_repeated else (value,)


def _has_redacted(message: Message) -> bool:
    if not _may_redact(message.DESCRIPTOR):
        return False
    return any(
        field.GetOptions().debug_redact
        or any(_has_redacted(sub) for sub in _sub_messages(field, value))
        for field, value in message.ListFields()
    )


@functools.cache
def _may_redact(descriptor: Descriptor) -> bool:
    """Whether a message of this type can hold a `debug_redact` field at any depth,
    decided once per type: most answers (a payment intent) cannot, and walking one's
    fields for it cost more CPU than the rest of storing the answer."""
    seen = {descriptor}
    pending = [descriptor]
    while pending:
        for field in pending.pop().fields:
            if field.GetOptions().debug_redact:
                return True
            sub = field.message_type
            if sub is not None and sub not in seen:
                seen.add(sub)
                pending.append(sub)
    return False


def _clear_redacted(message: Message) -> None:
    for field, value in message.ListFields():
        if field.GetOptions().debug_redact:
            message.ClearField(field.name)
        else:
            for sub in _sub_messages(field, value):
                _clear_redacted(sub)


def _idempotency_key(context: Context) -> str | None:
    values = {
        v if isinstance(v, str) else v.decode(errors="replace")
        for k, v in context.invocation_metadata() or ()
        if k == METADATA_KEY
    }
    if not values:
        return None
    if len(values) > 1:
        raise InvalidArgument.field("idempotency_key", "send one Idempotency-Key, not several")
    return parse_key(values.pop())


async def _answer(outcome: Outcome, context: Context) -> Any:
    """The stored outcome as the call's answer: the response bytes, or the same abort."""
    if outcome.response is not None:
        return _Serialized(outcome.response)
    assert outcome.error_code is not None and outcome.error_status is not None
    message = status_pb2.Status.FromString(outcome.error_status).message
    await context.abort(
        _CODES[outcome.error_code],
        message,
        trailing_metadata=((GRPC_DETAILS_METADATA_KEY, outcome.error_status),),
    )
