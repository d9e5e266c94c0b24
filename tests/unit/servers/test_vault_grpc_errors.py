"""adapters/vault/grpc_errors.py inverts servers/grpc/errors.py: every core error the vault
raises comes out of the gRPC client as the same class, reason and metadata."""

from __future__ import annotations

import grpc
import pytest
from grpc_status import rpc_status

from adapters.vault.grpc_errors import (
    CIPHERTEXT_REJECTED_REASON,
    VaultInternalError,
    VaultMisconfigured,
    from_rpc_error,
)
from core.shared import errors
from core.vault import errors as vault_errors
from servers.grpc.errors import INTERNAL, build_status, to_status


def as_rpc_error(status: object) -> grpc.aio.AioRpcError:
    converted = rpc_status.to_status(status)  # type: ignore[arg-type]
    return grpc.aio.AioRpcError(
        converted.code,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(*converted.trailing_metadata),
        details=converted.details,
    )


ROUND_TRIPS = [
    errors.NotFound("No such token: 'tok_x'", metadata={"param": "payment_method"}),
    errors.AlreadyExists("exists"),
    errors.FailedPrecondition("wrong state", reason="SOMETHING"),
    errors.Conflict("raced", reason="CONCURRENT_UPDATE"),
    errors.Unavailable("The CVC store is unavailable.", reason="VAULT_CVC_STORE_UNAVAILABLE"),
    vault_errors.TokenAlreadyUsed("Token tok_x has already been used"),
    vault_errors.TokenExpired("Token tok_x has expired."),
    vault_errors.TokenRevoked("revoked"),
    vault_errors.PaymentMethodRevoked("revoked"),
    vault_errors.KeyUnavailable("The key management service is unavailable."),
]


@pytest.mark.parametrize("error", ROUND_TRIPS, ids=lambda e: type(e).__name__)
def test_core_errors_survive_the_wire(error: errors.PaygateError) -> None:
    back = from_rpc_error(as_rpc_error(to_status(error)))
    assert type(back) is type(error)
    assert isinstance(back, errors.PaygateError)
    assert (back.message, back.reason, back.metadata) == (
        error.message,
        error.reason,
        error.metadata,
    )


def test_invalid_argument_keeps_every_violation() -> None:
    error = errors.InvalidArgument(
        [
            errors.FieldViolation("card.number", "is not a valid card number"),
            errors.FieldViolation("card.cvc", "must be 3 digits for this card"),
        ],
        reason="INVALID_NUMBER",
    )
    back = from_rpc_error(as_rpc_error(to_status(error)))
    assert isinstance(back, errors.InvalidArgument)
    assert (back.reason, back.metadata, back.message) == (
        "INVALID_NUMBER",
        {"param": "card.number"},
        error.message,
    )
    assert back.violations == error.violations


def test_rate_limits_keep_their_retry_after() -> None:
    error = errors.ResourceExhausted("slow down", retry_after_seconds=7)
    back = from_rpc_error(as_rpc_error(to_status(error)))
    assert isinstance(back, errors.ResourceExhausted) and back.retry_after_seconds == 7


@pytest.mark.parametrize(
    "error",
    [
        errors.Unauthenticated("no", reason="INVALID_SERVICE_CREDENTIAL"),
        errors.PermissionDenied("no"),
    ],
)
def test_a_refused_service_credential_is_ours_not_the_merchants(
    error: errors.PaygateError,
) -> None:
    assert isinstance(from_rpc_error(as_rpc_error(to_status(error))), VaultMisconfigured)


def test_internal_errors() -> None:
    rejected = build_status(grpc.StatusCode.INTERNAL, "x", CIPHERTEXT_REJECTED_REASON)
    assert isinstance(from_rpc_error(as_rpc_error(rejected)), vault_errors.CiphertextRejected)
    assert isinstance(from_rpc_error(as_rpc_error(INTERNAL)), VaultInternalError)


def test_a_vault_that_does_not_answer_is_unavailable() -> None:
    for code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        bare = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="")
        back = from_rpc_error(bare)
        assert isinstance(back, errors.Unavailable) and back.reason == "VAULT_UNAVAILABLE"
