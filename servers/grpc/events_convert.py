"""Events, webhook endpoints and deliveries <-> protobuf, and the one rendering of objects.

`ApiRenderer` is core.events.ports.ObjectRenderer: an event's data.object is the object's
proto message (the same converter GET answers with) printed as JSON the way Envoy's
transcoder prints it (proto field names, every field, enum names, int64 as strings), so
a webhook and the API never disagree about an object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.message import Message
from paygate.v1 import events_pb2, webhook_endpoints_pb2

from core.events.model import (
    Delivery,
    DeliveryAttempt,
    Event,
    RequestRef,
    SignatureScheme,
    WebhookEndpoint,
)
from core.events.use_cases import DeliveryWithAttempts
from core.ledger.records import Dispute, Payout, Settlement
from core.payments.model import PaymentIntent, Refund
from core.shared.errors import FieldViolation, InvalidArgument
from servers.grpc import context as call
from servers.grpc import convert, ledger_convert
from servers.grpc.convert import timestamp
from servers.grpc.message_json import message_to_dict

WD = webhook_endpoints_pb2.WebhookDelivery
WE = webhook_endpoints_pb2.WebhookEndpoint


def webhook_endpoint(
    value: WebhookEndpoint, secret: str = ""
) -> webhook_endpoints_pb2.WebhookEndpoint:
    previous = value.previous_secret_expires_at if value.previous_secret is not None else None
    return webhook_endpoints_pb2.WebhookEndpoint(
        id=value.id,
        url=value.url,
        enabled_events=list(value.enabled_events),
        description=value.description,
        disabled=value.disabled,
        disabled_reason=value.disabled_reason,
        livemode=value.livemode,
        created=timestamp(value.created),
        secret=secret,
        previous_secret_expires_at=timestamp(previous),
        signature_scheme=WE.SignatureScheme.Value(value.signature_scheme.value),
    )


def signature_scheme(value: int) -> SignatureScheme | None:
    """None for unset (the use-case's default)."""
    if value == WE.SignatureScheme.SIGNATURE_SCHEME_UNSPECIFIED:
        return None
    if value not in WE.SignatureScheme.values():
        raise InvalidArgument(
            [FieldViolation("signature_scheme", "must be STANDARD_WEBHOOKS or STRIPE")]
        )
    return SignatureScheme(WE.SignatureScheme.Name(value))  # type: ignore[arg-type]


def _message(obj: object) -> Message:
    if isinstance(obj, PaymentIntent):
        return convert.payment_intent(obj)
    if isinstance(obj, Refund):
        return convert.refund(obj)
    if isinstance(obj, Dispute):
        return ledger_convert.dispute(obj)
    if isinstance(obj, Payout):
        return ledger_convert.payout(obj)
    if isinstance(obj, Settlement):
        return ledger_convert.settlement(obj)
    if isinstance(obj, WebhookEndpoint):
        return webhook_endpoint(obj)
    raise TypeError(f"no API rendering for {type(obj).__name__}")


OBJECT_NAMES = {
    "PaymentIntent": "payment_intent",
    "Refund": "refund",
    "Dispute": "dispute",
    "Payout": "payout",
    "Settlement": "settlement",
    "WebhookEndpoint": "webhook_endpoint",
}


class ApiRenderer:
    def render(self, obj: object) -> Mapping[str, Any]:
        rendered = message_to_dict(_message(obj))
        rendered["object"] = OBJECT_NAMES[type(obj).__name__]
        return rendered


class CallContext:
    """core.events.ports.RequestContext from the interceptors' context variables."""

    def current(self) -> RequestRef:
        return RequestRef(call.request_id.get(), call.idempotency_key.get())


def event(value: Event) -> events_pb2.Event:
    data = struct_pb2.Struct()
    data.update(dict(value.data))
    return events_pb2.Event(
        id=value.id,
        type=value.type,
        created=timestamp(value.created),
        livemode=value.livemode,
        data=events_pb2.EventData(object=data),
        request=events_pb2.EventRequest(
            id=value.request.id, idempotency_key=value.request.idempotency_key
        ),
    )


def _attempt(value: DeliveryAttempt) -> webhook_endpoints_pb2.WebhookDeliveryAttempt:
    return webhook_endpoints_pb2.WebhookDeliveryAttempt(
        id=value.id,
        attempted_at=timestamp(value.attempted_at),
        request_headers=dict(value.request_headers),
        status_code=value.status_code,
        response_body=value.response_body,
        latency_ms=value.latency_ms,
        error=value.error,
    )


def delivery(value: Delivery, attempts: tuple[DeliveryAttempt, ...] = ()) -> WD:
    return WD(
        id=value.id,
        event=value.event_id,
        webhook_endpoint=value.endpoint_id,
        status=WD.Status.Value(value.status.value),
        attempt_count=value.attempts,
        next_attempt_at=timestamp(value.next_attempt_at),
        created=timestamp(value.created),
        attempts=[_attempt(a) for a in attempts],
    )


def delivery_with_attempts(value: DeliveryWithAttempts) -> WD:
    return delivery(value.delivery, value.attempts)
