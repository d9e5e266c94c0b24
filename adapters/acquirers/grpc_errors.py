"""Acquirer errors across AcquirerSimulatorService: the status the server sends for each, and
the AcquirerError the client raises for each status.

Both directions live in this one module so that they cannot drift apart
(tests/unit/acquirers/test_acquirer_grpc_errors.py round-trips every error):

    core error (server)                       gRPC status + ErrorInfo reason
    AcquirerTimeout                           DEADLINE_EXCEEDED   ACQUIRER_TIMEOUT
    AcquirerUnavailable                       UNAVAILABLE         ACQUIRER_UNAVAILABLE
    InvalidPaymentDetails                     INVALID_ARGUMENT    INVALID_PAYMENT_DETAILS
                                                                  (+ BadRequest: the field)
    AcquirerRejected(code)                    REJECTION_STATUS[code]   code in upper case

Statuses without one of these reasons come from the transport or the server's own
machinery, and the client reads them by what they imply about the request:

    refused before acting                     INVALID_ARGUMENT (malformed message),
                                              UNAUTHENTICATED, PERMISSION_DENIED,
                                              UNIMPLEMENTED, RESOURCE_EXHAUSTED
                                              -> AcquirerUnavailable: nothing happened
    no answer to a request that was sent      DEADLINE_EXCEEDED, UNAVAILABLE, INTERNAL,
                                              UNKNOWN, CANCELLED, ...
                                              -> AcquirerTimeout when the request could
                                              have changed something (outcome unknown),
                                              AcquirerUnavailable for a read

The client only sends a request that changes something over a connected channel, so a
service that cannot be reached at all is AcquirerUnavailable before anything is sent
(adapters/acquirers/grpc_client.py).
"""

from __future__ import annotations

import logging

import grpc
from google.rpc import error_details_pb2

from adapters import rich_errors
from core.payments.acquirer import (
    AcquirerError,
    AcquirerRejected,
    AcquirerTimeout,
    AcquirerUnavailable,
    InvalidPaymentDetails,
    RejectionCode,
)

log = logging.getLogger(__name__)

DOMAIN = "paygate.dev"
TIMEOUT_REASON = "ACQUIRER_TIMEOUT"
UNAVAILABLE_REASON = "ACQUIRER_UNAVAILABLE"

C = RejectionCode
S = grpc.StatusCode
REJECTION_STATUS: dict[RejectionCode, grpc.StatusCode] = {
    C.UNKNOWN_REFERENCE: S.NOT_FOUND,
    C.REFERENCE_REUSED: S.ALREADY_EXISTS,
    C.UNSUPPORTED_PAYMENT_SOURCE: S.INVALID_ARGUMENT,
    C.CURRENCY_NOT_SUPPORTED: S.INVALID_ARGUMENT,
    C.CURRENCY_MISMATCH: S.INVALID_ARGUMENT,
    C.INVALID_AMOUNT: S.INVALID_ARGUMENT,
    C.INVALID_PAYMENT_DETAILS: S.INVALID_ARGUMENT,
    C.NOT_AUTHORIZED: S.FAILED_PRECONDITION,
    C.NO_ACTION_PENDING: S.FAILED_PRECONDITION,
    C.AMOUNT_EXCEEDS_AUTHORIZED: S.FAILED_PRECONDITION,
    C.AMOUNT_EXCEEDS_CAPTURED: S.FAILED_PRECONDITION,
    C.ALREADY_CAPTURED: S.FAILED_PRECONDITION,
    C.ALREADY_VOIDED: S.FAILED_PRECONDITION,
}
_REJECTIONS_BY_REASON = {code.value.upper(): code for code in RejectionCode}

REFUSED_BEFORE_ACTING = frozenset(
    {
        S.INVALID_ARGUMENT,
        S.UNAUTHENTICATED,
        S.PERMISSION_DENIED,
        S.UNIMPLEMENTED,
        S.RESOURCE_EXHAUSTED,
    }
)


def reason_of(error: AcquirerError) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    """Server side: the status code, ErrorInfo reason and metadata for an acquirer error."""
    if isinstance(error, AcquirerTimeout):
        return S.DEADLINE_EXCEEDED, TIMEOUT_REASON, {"reference": error.reference}
    if isinstance(error, InvalidPaymentDetails):
        metadata = {
            "rejection_code": error.code.value,
            "field": error.field,
            "description": error.description,
        }
        return S.INVALID_ARGUMENT, error.code.value.upper(), metadata
    if isinstance(error, AcquirerRejected):
        code = REJECTION_STATUS[error.code]
        return code, error.code.value.upper(), {"rejection_code": error.code.value}
    return S.UNAVAILABLE, UNAVAILABLE_REASON, {}


def _details(
    error: grpc.aio.AioRpcError,
) -> tuple[error_details_pb2.ErrorInfo | None, list[error_details_pb2.BadRequest.FieldViolation]]:
    rich = rich_errors.read(error)
    return rich.info, rich.violations


def from_rpc_error(
    error: grpc.aio.AioRpcError, *, reference: str, outcome_at_stake: bool
) -> AcquirerError:
    """Client side: the AcquirerError for a failed call about `reference`.

    `outcome_at_stake`: the request could have changed something at the acquirer
    (authorize, complete a challenge, capture, void, refund), so a call that got no
    answer is AcquirerTimeout (ask again), never AcquirerUnavailable (nothing happened).
    """
    code = error.code()
    message = error.details() or ""
    info, violations = _details(error)
    if info is not None and info.domain == DOMAIN:
        metadata = dict(info.metadata)
        if info.reason == TIMEOUT_REASON:
            return AcquirerTimeout(metadata.get("reference") or reference, message)
        if info.reason == UNAVAILABLE_REASON:
            return AcquirerUnavailable(message or "The acquirer is unavailable.")
        rejection = _REJECTIONS_BY_REASON.get(info.reason)
        if rejection is RejectionCode.INVALID_PAYMENT_DETAILS:
            field = metadata.get("field") or (violations[0].field if violations else "")
            description = metadata.get("description") or (
                violations[0].description if violations else message
            )
            return InvalidPaymentDetails(field or "payment_method", description)
        if rejection is not None:
            return AcquirerRejected(rejection, message)
    if code in REFUSED_BEFORE_ACTING:
        if code in (S.UNAUTHENTICATED, S.PERMISSION_DENIED):
            log.error(
                "the acquirer refused this process's service credential (%s): check "
                "PAYGATE_ACQUIRER_SERVICE_TOKEN on both sides",
                code.name,
            )
        else:
            log.error("the acquirer refused the request as such (%s): %s", code.name, message)
        return AcquirerUnavailable(f"The acquirer refused the request ({code.name}).")
    if outcome_at_stake:
        return AcquirerTimeout(
            reference, f"No answer from the acquirer for {reference} ({code.name})."
        )
    return AcquirerUnavailable(f"The acquirer did not answer ({code.name}).")
