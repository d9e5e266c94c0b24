"""gRPC status from the vault role -> the core error the in-process vault would have raised.

The inverse of servers/grpc/errors.py (status code + google.rpc.ErrorInfo reason and
metadata + BadRequest violations), so that a caller cannot tell the split vault from the
embedded one by its errors (tests/contract/vault/ checks it). Two deliberate exceptions:
- UNAUTHENTICATED / PERMISSION_DENIED from the vault mean OUR service credential was
  refused: a deployment error, raised as VaultMisconfigured (-> INTERNAL, logged), never
  passed on as if the merchant's API key were wrong;
- INTERNAL with reason VAULT_CIPHERTEXT_REJECTED is CiphertextRejected, as in-process.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2

from adapters import rich_errors
from core.shared import errors
from core.vault import errors as vault_errors

CIPHERTEXT_REJECTED_REASON = "VAULT_CIPHERTEXT_REJECTED"

_BY_CODE: dict[grpc.StatusCode, type[errors.PaygateError]] = {
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.ABORTED: errors.Conflict,
    grpc.StatusCode.UNAVAILABLE: errors.Unavailable,
}
# FAILED_PRECONDITION and UNAVAILABLE reasons with a class of their own in core.vault.
_BY_REASON: dict[str, type[errors.PaygateError]] = {
    cls.default_reason: cls
    for cls in (
        vault_errors.TokenAlreadyUsed,
        vault_errors.TokenExpired,
        vault_errors.TokenRevoked,
        vault_errors.PaymentMethodRevoked,
        vault_errors.KeyUnavailable,
    )
}
# Sent, but the answer did not come back: for the caller, the vault is unavailable.
_UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class VaultMisconfigured(Exception):
    """The vault refused this process's service credential, or does not serve the method."""


class VaultInternalError(Exception):
    """The vault failed with an internal error (it logged the details)."""


def _details(
    error: grpc.aio.AioRpcError,
) -> tuple[error_details_pb2.ErrorInfo | None, list[errors.FieldViolation]]:
    rich = rich_errors.read(error)
    return rich.info, [errors.FieldViolation(v.field, v.description) for v in rich.violations]


def from_rpc_error(error: grpc.aio.AioRpcError) -> Exception:
    code = error.code()
    message = error.details() or ""
    info, violations = _details(error)
    reason = info.reason if info is not None else None
    metadata = dict(info.metadata) if info is not None else {}

    if code == grpc.StatusCode.INVALID_ARGUMENT:
        if not violations:
            violations = [errors.FieldViolation(metadata.get("param", "request"), message)]
        invalid = errors.InvalidArgument(violations, reason=reason, metadata=metadata)
        invalid.message = message or invalid.message
        return invalid
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        retry_after = int(metadata.get("retry_after", "1") or 1)
        return errors.ResourceExhausted(message, retry_after_seconds=retry_after, reason=reason)
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return VaultMisconfigured(
            f"The vault refused this process's service credential ({code.name}): check "
            "PAYGATE_VAULT_SERVICE_TOKEN on both sides."
        )
    if code == grpc.StatusCode.INTERNAL and reason == CIPHERTEXT_REJECTED_REASON:
        return vault_errors.CiphertextRejected()
    if code in _UNREACHABLE and info is None:
        return errors.Unavailable("The vault is unavailable.", reason="VAULT_UNAVAILABLE")
    cls = _BY_REASON.get(reason or "") or _BY_CODE.get(code)
    if cls is None:
        if code == grpc.StatusCode.UNIMPLEMENTED:
            return VaultMisconfigured(f"The vault does not serve this method: {message}")
        return VaultInternalError(f"The vault failed: {code.name}")
    return cls(message, reason=reason, metadata=metadata)
