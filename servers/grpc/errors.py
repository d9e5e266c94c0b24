"""Core errors -> gRPC status with google.rpc.ErrorInfo (and BadRequest for bad input).

The one translation table of the API: a core error class without an entry here fails
tests/unit/test_error_catalogue.py; docs/errors.md lists the classes and every reason.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from core.shared import errors

DOMAIN = "paygate.dev"

STATUS_CODES: dict[type[errors.PaygateError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Conflict: grpc.StatusCode.ABORTED,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def code_of(error: errors.PaygateError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    raise LookupError(f"{type(error).__name__} has no gRPC status code")


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def build_status(
    code: grpc.StatusCode, message: str, reason: str, metadata: dict[str, str] | None = None
) -> status_pb2.Status:
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata or {})
    return status_pb2.Status(
        code=getattr(code_pb2, code.name), message=message, details=[_pack(info)]
    )


def to_status(error: errors.PaygateError) -> status_pb2.Status:
    status = build_status(code_of(error), error.message, error.reason, error.metadata)
    if isinstance(error, errors.InvalidArgument):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        status.details.append(_pack(bad_request))
    if isinstance(error, errors.ResourceExhausted):
        delay = duration_pb2.Duration(seconds=error.retry_after_seconds)
        status.details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return status


def trailing_metadata(error: errors.PaygateError) -> tuple[tuple[str, str], ...]:
    """Metadata an error adds to the response: `retry-after` (whole seconds) on a rate
    limit, which Envoy passes to HTTP clients as the Retry-After header."""
    if isinstance(error, errors.ResourceExhausted):
        return (("retry-after", str(error.retry_after_seconds)),)
    return ()


def to_grpc_status(status: status_pb2.Status) -> grpc.Status:
    return rpc_status.to_status(status)


INTERNAL = build_status(
    grpc.StatusCode.INTERNAL,
    "An internal error occurred. It has been logged; retrying with the same "
    "Idempotency-Key is safe.",
    "INTERNAL",
)
