"""The net banking gateway's payment states and error reasons in paygate's terms: the
connector's total mapping. The gateway (in the style of Razorpay's and BillDesk's net
banking) answers a `state` (`created`, `pending`, `authorized`, `failed`, `cancelled`)
and, on a failure, an `error_reason`; every reason it documents is here (a test checks
every member), and one it does not know is a generic decline: never an approval, never a
retry elsewhere.
"""

from __future__ import annotations

from enum import StrEnum

from core.payments.acquirer import AuthorizationOutcome, DeclineCode, OperationStatus

Out = AuthorizationOutcome
D = DeclineCode


class NetBankingState(StrEnum):
    CREATED = "created"  # waiting for the payer to log in at the bank
    PENDING = "pending"  # the payer approved; the bank has not confirmed the debit yet
    AUTHORIZED = "authorized"
    FAILED = "failed"
    CANCELLED = "cancelled"  # cancelled by the merchant before the payer answered


class NetBankingReason(StrEnum):
    PAYMENT_CANCELLED = "payment_cancelled"  # the payer pressed Cancel at the bank
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INCORRECT_CREDENTIALS = "incorrect_credentials"
    PAYMENT_TIMED_OUT = "payment_timed_out"  # the payer never logged in
    BANK_TECHNICAL_ERROR = "bank_technical_error"
    TRANSACTION_LIMIT_EXCEEDED = "transaction_limit_exceeded"
    RISK_CHECK_FAILED = "risk_check_failed"
    SERVER_ERROR = "server_error"


STATES: dict[NetBankingState, AuthorizationOutcome] = {
    NetBankingState.CREATED: Out.REQUIRES_ACTION,
    NetBankingState.PENDING: Out.PENDING,
    NetBankingState.AUTHORIZED: Out.APPROVED,
    NetBankingState.FAILED: Out.DECLINED,
    NetBankingState.CANCELLED: Out.CANCELED,
}

REASONS: dict[NetBankingReason, tuple[AuthorizationOutcome, DeclineCode]] = {
    NetBankingReason.PAYMENT_CANCELLED: (Out.DECLINED, D.DECLINED_BY_PAYER),
    NetBankingReason.INSUFFICIENT_FUNDS: (Out.DECLINED, D.INSUFFICIENT_FUNDS),
    NetBankingReason.INCORRECT_CREDENTIALS: (Out.DECLINED, D.AUTHENTICATION_FAILED),
    NetBankingReason.PAYMENT_TIMED_OUT: (Out.DECLINED, D.APPROVAL_EXPIRED),
    # The bank's own trouble: nothing was debited, another route may take the payment.
    NetBankingReason.BANK_TECHNICAL_ERROR: (Out.DECLINED, D.ISSUER_NOT_AVAILABLE),
    NetBankingReason.TRANSACTION_LIMIT_EXCEEDED: (Out.DECLINED, D.TRANSACTION_NOT_ALLOWED),
    NetBankingReason.RISK_CHECK_FAILED: (Out.RISK_BLOCKED, D.FRAUDULENT),
    NetBankingReason.SERVER_ERROR: (Out.PROCESSING_ERROR, D.PROCESSING_ERROR),
}

UNRECOGNIZED = (Out.DECLINED, D.GENERIC_DECLINE)


def outcome_of(state: str, reason: str) -> tuple[AuthorizationOutcome, DeclineCode | None]:
    try:
        outcome = STATES[NetBankingState(state)]
    except ValueError:
        return UNRECOGNIZED
    if outcome is not Out.DECLINED:
        return outcome, None
    try:
        return REASONS[NetBankingReason(reason)]
    except ValueError:
        return UNRECOGNIZED


def state_of(outcome: AuthorizationOutcome) -> NetBankingState:
    """The state the gateway shows for an outcome of its books."""
    return {
        Out.APPROVED: NetBankingState.AUTHORIZED,
        Out.REQUIRES_ACTION: NetBankingState.CREATED,
        Out.PENDING: NetBankingState.PENDING,
        Out.CANCELED: NetBankingState.CANCELLED,
    }.get(outcome, NetBankingState.FAILED)


def operation_status_of(status: str) -> OperationStatus:
    return {"processed": OperationStatus.SUCCEEDED, "pending": OperationStatus.PENDING}.get(
        status, OperationStatus.FAILED
    )
