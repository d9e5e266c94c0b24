"""Stripe's error shape, and the one translation of the API's gRPC errors into it.

    {"error": {"type", "code", "decline_code", "message", "param", "payment_intent"}}

The HTTP status and `type` decide which exception each SDK raises: 400
invalid_request_error (InvalidRequestError), 400 idempotency_error (IdempotencyError),
401 (AuthenticationError), 402 card_error (CardError), 403 (PermissionError), 404
(InvalidRequestError), 409, 429 rate_limit_error (RateLimitError), 5xx api_error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc

from adapters.rich_errors import read
from core.shared.redaction import mask_pans

# Stripe codes that stand for themselves where paygate says CARD_DECLINED + decline_code.
_OWN_CODES = frozenset({"expired_card", "incorrect_cvc", "incorrect_number"})


@dataclass
class StripeError(Exception):
    status: int
    type: str
    message: str
    code: str = ""
    param: str = ""
    decline_code: str = ""
    payment_intent: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        for name in ("code", "param", "decline_code"):
            if getattr(self, name):
                error[name] = getattr(self, name)
        if self.payment_intent is not None:
            error["payment_intent"] = self.payment_intent
        return {"error": error}


def unknown_parameter(name: str) -> StripeError:
    name = mask_pans(name[:100])  # a parameter name is the caller's text: never echo a PAN
    return StripeError(
        400,
        "invalid_request_error",
        f"Received unknown parameter: {name}. It is not supported by paygate's "
        "Stripe-compatible API (docs/stripe-compatibility.md).",
        code="parameter_unknown",
        param=name,
    )


def invalid_parameter(name: str, why: str) -> StripeError:
    name = mask_pans(name[:100])
    return StripeError(
        400, "invalid_request_error", f"Invalid {name}: {why}", code="parameter_invalid", param=name
    )


def missing_parameter(name: str) -> StripeError:
    return StripeError(
        400,
        "invalid_request_error",
        f"Missing required param: {name}.",
        code="parameter_missing",
        param=name,
    )


def not_found(what: str) -> StripeError:
    return StripeError(
        404, "invalid_request_error", f"Unrecognized request URL ({what}).", code="resource_missing"
    )


_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid_request_error"),
    grpc.StatusCode.FAILED_PRECONDITION: (400, "invalid_request_error"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "invalid_request_error"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "invalid_request_error"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "invalid_request_error"),
    grpc.StatusCode.NOT_FOUND: (404, "invalid_request_error"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "invalid_request_error"),
    grpc.StatusCode.ABORTED: (409, "invalid_request_error"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "rate_limit_error"),
    grpc.StatusCode.UNAVAILABLE: (503, "api_error"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "api_error"),
}


def from_rpc(error: grpc.aio.AioRpcError) -> StripeError:
    """The Stripe error for a failed call to the API. A failed payment (its ErrorInfo
    names the intent) is a 402 card_error; the caller adds the intent's rendering."""
    rich = read(error)
    meta = dict(rich.info.metadata) if rich.info is not None else {}
    reason = rich.reason
    message = error.details() or "The request failed."
    status, kind = _STATUS.get(error.code(), (500, "api_error"))
    param = meta.get("param", "") or (rich.fields[0] if rich.fields else "")
    headers = {}
    if "retry_after" in meta:
        headers["retry-after"] = meta["retry_after"]
    if error.code() is grpc.StatusCode.FAILED_PRECONDITION and "payment_intent" in meta:
        decline = meta.get("decline_code", "")
        code = decline if decline in _OWN_CODES else reason.lower()
        return StripeError(402, "card_error", message, code=code, decline_code=decline)
    if reason == "IDEMPOTENCY_KEY_REUSED":
        return StripeError(400, "idempotency_error", message, code="idempotency_key_in_use")
    if error.code() is grpc.StatusCode.UNAUTHENTICATED:
        return StripeError(401, kind, message, code="api_key_invalid" if reason else "")
    return StripeError(status, kind, message, code=reason.lower(), param=param, headers=headers)
