"""paygate's objects in Stripe's shapes.

Input is an object as the public API prints it (proto field names, enum names, int64 as
strings, RFC 3339 times): the JSON of a gRPC answer, or an event's stored data.object.
So one rendering serves the API's answers and the webhooks' bodies. Output follows
Stripe: an `object` field, integer amounts, Unix times, lower-case currency, status
and enums, null where Stripe has null.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from google.protobuf.message import Message

from core.events.model import Event
from servers.grpc.message_json import message_to_dict

Json = dict[str, Any]
# The API version the objects are shaped after, as SDKs and webhooks expect to read it.
API_VERSION = "2024-06-20"


def as_json(message: Message) -> Json:
    return message_to_dict(message)


def _int(value: Any) -> int:
    return int(value or 0)


def _time(value: Any) -> int | None:
    if not value:
        return None
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())


def _lower(value: Any) -> str:
    return str(value or "").lower()


def _or_none(value: Any) -> Any:
    return value if value not in ("", None, {}) else None


def payment_intent(pi: Mapping[str, Any]) -> Json:
    error = pi.get("last_payment_error") or {}
    action = pi.get("next_action") or {}
    return {
        "id": pi["id"],
        "object": "payment_intent",
        "amount": _int(pi.get("amount")),
        "amount_capturable": _int(pi.get("amount_capturable")),
        "amount_received": _int(pi.get("amount_received")),
        "canceled_at": _time(pi.get("canceled_at")),
        "cancellation_reason": _or_none(_lower(pi.get("cancellation_reason"))),
        "capture_method": _lower(pi.get("capture_method")) or "automatic",
        "client_secret": pi.get("client_secret", ""),
        "confirmation_method": "automatic",
        "created": _time(pi.get("created")),
        "currency": _lower(pi.get("currency")),
        "customer": None,
        "description": _or_none(pi.get("description")),
        "last_payment_error": _payment_error(error) if error.get("code") else None,
        "latest_charge": None,
        "livemode": bool(pi.get("livemode")),
        "metadata": dict(pi.get("metadata") or {}),
        "next_action": _next_action(action, pi.get("return_url", "")),
        "payment_method": _or_none(pi.get("payment_method")),
        "payment_method_types": list(pi.get("payment_method_types") or ["card"]),
        "receipt_email": _or_none(pi.get("receipt_email")),
        "status": _lower(pi.get("status")),
    }


def _payment_error(error: Mapping[str, Any]) -> Json:
    code = _lower(error.get("code"))
    decline = error.get("decline_code", "")
    return {
        "type": "card_error",
        "code": decline if decline in ("expired_card", "incorrect_cvc") else code,
        "decline_code": _or_none(decline),
        "message": error.get("message", ""),
    }


def _next_action(action: Mapping[str, Any], return_url: str) -> Json | None:
    kind = action.get("type", "")
    if kind == "REDIRECT_TO_URL":
        return {
            "type": "redirect_to_url",
            "redirect_to_url": {"url": action.get("url", ""), "return_url": return_url or None},
        }
    if kind == "UPI_COLLECT":
        return {"type": "upi_collect", "upi_collect": {"url": action.get("url", "")}}
    return None


def refund(value: Mapping[str, Any]) -> Json:
    return {
        "id": value["id"],
        "object": "refund",
        "amount": _int(value.get("amount")),
        "charge": None,
        "created": _time(value.get("created")),
        "currency": _lower(value.get("currency")),
        "failure_reason": _or_none(value.get("failure_reason")),
        "metadata": {},
        "payment_intent": value.get("payment_intent", ""),
        "reason": _or_none(_lower(value.get("reason"))),
        "status": _lower(value.get("status")),
    }


def _card(card: Mapping[str, Any]) -> Json:
    return {
        "brand": _lower(card.get("brand")),
        "country": _or_none(card.get("country")),
        "exp_month": _int(card.get("exp_month")),
        "exp_year": _int(card.get("exp_year")),
        "fingerprint": card.get("fingerprint", ""),
        "funding": _or_none(card.get("funding")),
        "last4": card.get("last4", ""),
    }


def token(value: Mapping[str, Any]) -> Json:
    return {
        "id": value["id"],
        "object": "token",
        "card": {"object": "card", **_card(value.get("card") or {})},
        "created": _time(value.get("created")),
        "livemode": bool(value.get("livemode")),
        "type": "card",
        "used": bool(value.get("used")),
    }


def payment_method(value: Mapping[str, Any]) -> Json:
    return {
        "id": value["id"],
        "object": "payment_method",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "card": _card(value.get("card") or {}),
        "created": _time(value.get("created")),
        "customer": _or_none(value.get("customer")),
        "livemode": bool(value.get("livemode")),
        "metadata": {},
        "type": value.get("type") or "card",
    }


def _amounts(amounts: Any) -> list[Json]:
    return [
        {"amount": _int(a.get("amount")), "currency": _lower(a.get("currency"))}
        for a in amounts or []
    ]


def balance(value: Mapping[str, Any]) -> Json:
    return {
        "object": "balance",
        "available": _amounts(value.get("available")),
        "pending": _amounts(value.get("pending")),
        "livemode": bool(value.get("livemode")),
    }


def balance_transaction(value: Mapping[str, Any]) -> Json:
    return {
        "id": value["id"],
        "object": "balance_transaction",
        "amount": _int(value.get("amount")),
        "available_on": _time(value.get("available_on")),
        "created": _time(value.get("created")),
        "currency": _lower(value.get("currency")),
        "description": _or_none(value.get("description")),
        "fee": _int(value.get("fee")),
        "net": _int(value.get("net")),
        "source": _or_none(value.get("source")),
        "type": _lower(value.get("type")),
    }


def webhook_endpoint(value: Mapping[str, Any]) -> Json:
    rendered: Json = {
        "id": value["id"],
        "object": "webhook_endpoint",
        "api_version": API_VERSION,
        "created": _time(value.get("created")),
        "description": _or_none(value.get("description")),
        "enabled_events": list(value.get("enabled_events") or []),
        "livemode": bool(value.get("livemode")),
        "metadata": {},
        "status": "disabled" if value.get("disabled") else "enabled",
        "url": value.get("url", ""),
    }
    if value.get("secret"):  # shown once, on creation
        rendered["secret"] = value["secret"]
    return rendered


# data.object of an event, by the `object` name its stored rendering carries; objects
# without a Stripe counterpart (settlements, paygate's own) keep paygate's shape.
OBJECTS: Mapping[str, Callable[[Mapping[str, Any]], Json]] = {
    "payment_intent": payment_intent,
    "refund": refund,
    "webhook_endpoint": webhook_endpoint,
}


def event_object(data: Mapping[str, Any]) -> Json:
    render = OBJECTS.get(str(data.get("object", "")))
    return render(data) if render is not None else dict(data)


def event(
    *,
    id: str,
    type: str,
    created: int | None,
    livemode: bool,
    data: Mapping[str, Any],
    request_id: str = "",
    idempotency_key: str = "",
) -> Json:
    return {
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": {"object": event_object(data)},
        "livemode": livemode,
        "pending_webhooks": 0,
        "request": {"id": _or_none(request_id), "idempotency_key": _or_none(idempotency_key)},
        "type": type,
    }


def api_event(value: Mapping[str, Any]) -> Json:
    """An event as the Events API prints it."""
    request = value.get("request") or {}
    return event(
        id=value["id"],
        type=value.get("type", ""),
        created=_time(value.get("created")),
        livemode=bool(value.get("livemode")),
        data=(value.get("data") or {}).get("object") or {},
        request_id=request.get("id", ""),
        idempotency_key=request.get("idempotency_key", ""),
    )


def page(url: str, items: list[Json], has_more: bool) -> Json:
    return {"object": "list", "data": items, "has_more": has_more, "url": url}


def webhook_body(value: Event) -> bytes:
    """The body of a delivery to an endpoint with SignatureScheme.STRIPE."""
    rendered = event(
        id=value.id,
        type=value.type,
        created=int(value.created.timestamp()),
        livemode=value.livemode,
        data=value.data,
        request_id=value.request.id,
        idempotency_key=value.request.idempotency_key,
    )
    return json.dumps(rendered, separators=(",", ":")).encode()
