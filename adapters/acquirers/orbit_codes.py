"""Orbit's statuses and decline codes in paygate's terms: the connector's total mapping.

Orbit speaks Stripe's vocabulary: a charge's `status` and, on a declined charge, a
`decline_code`. Both tables are total over the codes Orbit documents (a test checks every
member), and a code they do not know is a generic decline: never an approval, never a
retry elsewhere.
"""

from __future__ import annotations

from enum import StrEnum

from core.payments.acquirer import AuthorizationOutcome, DeclineCode, OperationStatus

Out = AuthorizationOutcome
D = DeclineCode


class OrbitStatus(StrEnum):
    REQUIRES_CAPTURE = "requires_capture"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    FAILED = "failed"
    PENDING = "pending"


class OrbitDecline(StrEnum):
    GENERIC_DECLINE = "generic_decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    INCORRECT_NUMBER = "incorrect_number"
    LOST_CARD = "lost_card"
    STOLEN_CARD = "stolen_card"
    PICKUP_CARD = "pickup_card"
    FRAUDULENT = "fraudulent"
    DO_NOT_HONOR = "do_not_honor"
    CARD_NOT_SUPPORTED = "card_not_supported"
    CURRENCY_NOT_SUPPORTED = "currency_not_supported"
    AUTHENTICATION_REQUIRED = "authentication_required"
    PROCESSING_ERROR = "processing_error"
    ISSUER_NOT_AVAILABLE = "issuer_not_available"
    TRY_AGAIN_LATER = "try_again_later"


STATUSES: dict[OrbitStatus, AuthorizationOutcome] = {
    OrbitStatus.REQUIRES_CAPTURE: Out.APPROVED,
    OrbitStatus.SUCCEEDED: Out.APPROVED,
    OrbitStatus.CANCELED: Out.CANCELED,
    OrbitStatus.FAILED: Out.DECLINED,
    OrbitStatus.PENDING: Out.PENDING,
}

DECLINES: dict[OrbitDecline, tuple[AuthorizationOutcome, DeclineCode]] = {
    OrbitDecline.GENERIC_DECLINE: (Out.DECLINED, D.GENERIC_DECLINE),
    OrbitDecline.INSUFFICIENT_FUNDS: (Out.DECLINED, D.INSUFFICIENT_FUNDS),
    OrbitDecline.EXPIRED_CARD: (Out.DECLINED, D.EXPIRED_CARD),
    OrbitDecline.INCORRECT_CVC: (Out.DECLINED, D.INCORRECT_CVC),
    OrbitDecline.INCORRECT_NUMBER: (Out.DECLINED, D.INCORRECT_NUMBER),
    OrbitDecline.LOST_CARD: (Out.DECLINED, D.LOST_CARD),
    OrbitDecline.STOLEN_CARD: (Out.DECLINED, D.STOLEN_CARD),
    OrbitDecline.PICKUP_CARD: (Out.DECLINED, D.PICKUP_CARD),
    OrbitDecline.FRAUDULENT: (Out.RISK_BLOCKED, D.FRAUDULENT),
    OrbitDecline.DO_NOT_HONOR: (Out.DECLINED, D.DO_NOT_HONOR),
    OrbitDecline.CARD_NOT_SUPPORTED: (Out.DECLINED, D.CARD_NOT_SUPPORTED),
    OrbitDecline.CURRENCY_NOT_SUPPORTED: (Out.DECLINED, D.CURRENCY_NOT_SUPPORTED),
    OrbitDecline.AUTHENTICATION_REQUIRED: (Out.DECLINED, D.AUTHENTICATION_REQUIRED),
    OrbitDecline.PROCESSING_ERROR: (Out.PROCESSING_ERROR, D.PROCESSING_ERROR),
    OrbitDecline.ISSUER_NOT_AVAILABLE: (Out.DECLINED, D.ISSUER_NOT_AVAILABLE),
    OrbitDecline.TRY_AGAIN_LATER: (Out.DECLINED, D.TRY_AGAIN_LATER),
}

OPERATION_STATUSES: dict[str, OperationStatus] = {
    "succeeded": OperationStatus.SUCCEEDED,
    "pending": OperationStatus.PENDING,
    "failed": OperationStatus.FAILED,
}


def outcome_of(status: str) -> AuthorizationOutcome:
    try:
        return STATUSES[OrbitStatus(status)]
    except ValueError:
        return Out.DECLINED


def decline_of(code: str | None) -> tuple[AuthorizationOutcome, DeclineCode]:
    try:
        return DECLINES[OrbitDecline(code or "")]
    except ValueError:
        return Out.DECLINED, D.GENERIC_DECLINE


def operation_status_of(status: str) -> OperationStatus:
    return OPERATION_STATUSES.get(status, OperationStatus.FAILED)
