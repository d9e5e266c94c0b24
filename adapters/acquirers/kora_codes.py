"""Kora's transaction statuses and gateway responses in paygate's terms: the connector's
total mapping. Kora (in the style of Paystack) says why a charge failed in words, its
`gateway_response`; every response Kora documents is here (a test checks every member),
and one it does not know is a generic decline: never an approval, never a retry.
"""

from __future__ import annotations

from enum import StrEnum

from core.payments.acquirer import AuthorizationOutcome, DeclineCode, OperationStatus

Out = AuthorizationOutcome
D = DeclineCode


class KoraStatus(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    PENDING = "pending"
    REVERSED = "reversed"
    ABANDONED = "abandoned"


class KoraResponse(StrEnum):
    DECLINED = "Declined"
    DO_NOT_HONOR = "Do Not Honor"
    INSUFFICIENT_FUNDS = "Insufficient Funds"
    EXPIRED_CARD = "Expired Card"
    INVALID_CVV = "Invalid CVV"
    INVALID_CARD_NUMBER = "Invalid Card Number"
    LOST_CARD = "Lost Card"
    STOLEN_CARD = "Stolen Card"
    RESTRICTED_CARD = "Restricted Card"
    SUSPECTED_FRAUD = "Suspected Fraud"
    TRANSACTION_NOT_PERMITTED = "Transaction Not Permitted"
    AUTHENTICATION_REQUIRED = "Authentication Required"
    ISSUER_INOPERATIVE = "Issuer or Switch Inoperative"
    SYSTEM_MALFUNCTION = "System Malfunction"


STATUSES: dict[KoraStatus, AuthorizationOutcome] = {
    KoraStatus.SUCCESS: Out.APPROVED,
    KoraStatus.FAILED: Out.DECLINED,
    KoraStatus.PENDING: Out.PENDING,
    KoraStatus.REVERSED: Out.CANCELED,
    KoraStatus.ABANDONED: Out.CANCELED,
}

RESPONSES: dict[KoraResponse, tuple[AuthorizationOutcome, DeclineCode]] = {
    KoraResponse.DECLINED: (Out.DECLINED, D.GENERIC_DECLINE),
    KoraResponse.DO_NOT_HONOR: (Out.DECLINED, D.DO_NOT_HONOR),
    KoraResponse.INSUFFICIENT_FUNDS: (Out.DECLINED, D.INSUFFICIENT_FUNDS),
    KoraResponse.EXPIRED_CARD: (Out.DECLINED, D.EXPIRED_CARD),
    KoraResponse.INVALID_CVV: (Out.DECLINED, D.INCORRECT_CVC),
    KoraResponse.INVALID_CARD_NUMBER: (Out.DECLINED, D.INCORRECT_NUMBER),
    KoraResponse.LOST_CARD: (Out.DECLINED, D.LOST_CARD),
    KoraResponse.STOLEN_CARD: (Out.DECLINED, D.STOLEN_CARD),
    KoraResponse.RESTRICTED_CARD: (Out.DECLINED, D.RESTRICTED_CARD),
    KoraResponse.SUSPECTED_FRAUD: (Out.RISK_BLOCKED, D.FRAUDULENT),
    KoraResponse.TRANSACTION_NOT_PERMITTED: (Out.DECLINED, D.TRANSACTION_NOT_ALLOWED),
    KoraResponse.AUTHENTICATION_REQUIRED: (Out.DECLINED, D.AUTHENTICATION_REQUIRED),
    KoraResponse.ISSUER_INOPERATIVE: (Out.DECLINED, D.ISSUER_NOT_AVAILABLE),
    KoraResponse.SYSTEM_MALFUNCTION: (Out.PROCESSING_ERROR, D.PROCESSING_ERROR),
}


def outcome_of(status: str, response: str) -> tuple[AuthorizationOutcome, DeclineCode | None]:
    try:
        outcome = STATUSES[KoraStatus(status)]
    except ValueError:
        outcome = Out.DECLINED
    if outcome is not Out.DECLINED:
        return outcome, None
    try:
        return RESPONSES[KoraResponse(response)]
    except ValueError:
        return Out.DECLINED, D.GENERIC_DECLINE


def operation_status_of(status: str) -> OperationStatus:
    return {"success": OperationStatus.SUCCEEDED, "pending": OperationStatus.PENDING}.get(
        status, OperationStatus.FAILED
    )
