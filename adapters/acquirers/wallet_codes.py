"""The wallet aggregator's statuses and result codes in paygate's terms: the connector's
total mapping. The wallet (in the style of Paytm's payment API) answers a status
(`TXN_SUCCESS`, `TXN_FAILURE`, `PENDING`, `CLOSED`) and a numeric `resultCode`; every code
the wallet documents is here (a test checks every member), and one it does not know is a
generic decline: never an approval, never a retry elsewhere.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from core.payments.acquirer import AuthorizationOutcome, DeclineCode, OperationStatus
from core.shared.money import Money

Out = AuthorizationOutcome
D = DeclineCode


class WalletStatus(StrEnum):
    SUCCESS = "TXN_SUCCESS"
    FAILURE = "TXN_FAILURE"
    PENDING = "PENDING"
    CLOSED = "CLOSED"  # closed by the merchant before the payer answered


class WalletCode(StrEnum):
    SUCCESS = "01"
    AWAITING_PAYER = "400"  # the payer has not answered on the wallet's page yet
    PENDING_AT_WALLET = "402"  # the payer approved; the wallet confirms later
    CANCELLED_BY_PAYER = "141"
    CLOSED_BY_MERCHANT = "142"
    INSUFFICIENT_BALANCE = "235"
    RISK_REJECTED = "227"
    LIMIT_EXCEEDED = "330"
    EXPIRED = "810"  # the payer never answered
    SYSTEM_ERROR = "501"


CODES: dict[WalletCode, tuple[AuthorizationOutcome, DeclineCode | None]] = {
    WalletCode.SUCCESS: (Out.APPROVED, None),
    WalletCode.AWAITING_PAYER: (Out.REQUIRES_ACTION, None),
    WalletCode.PENDING_AT_WALLET: (Out.PENDING, None),
    WalletCode.CANCELLED_BY_PAYER: (Out.DECLINED, D.DECLINED_BY_PAYER),
    WalletCode.CLOSED_BY_MERCHANT: (Out.CANCELED, None),
    WalletCode.INSUFFICIENT_BALANCE: (Out.DECLINED, D.INSUFFICIENT_FUNDS),
    WalletCode.RISK_REJECTED: (Out.RISK_BLOCKED, D.FRAUDULENT),
    WalletCode.LIMIT_EXCEEDED: (Out.DECLINED, D.TRANSACTION_NOT_ALLOWED),
    WalletCode.EXPIRED: (Out.DECLINED, D.APPROVAL_EXPIRED),
    WalletCode.SYSTEM_ERROR: (Out.PROCESSING_ERROR, D.PROCESSING_ERROR),
}

# What a status alone says; a failure or a pending status is read from its code.
STATUSES: dict[WalletStatus, AuthorizationOutcome] = {
    WalletStatus.SUCCESS: Out.APPROVED,
    WalletStatus.FAILURE: Out.DECLINED,
    WalletStatus.PENDING: Out.PENDING,
    WalletStatus.CLOSED: Out.CANCELED,
}

UNRECOGNIZED = (Out.DECLINED, D.GENERIC_DECLINE)


def meaning_of(code: str) -> tuple[AuthorizationOutcome, DeclineCode | None]:
    try:
        return CODES[WalletCode(code)]
    except ValueError:
        return UNRECOGNIZED


def outcome_of(status: str, code: str) -> tuple[AuthorizationOutcome, DeclineCode | None]:
    """A status with its code: a success is an approval whatever the code says, a failure
    is never read as anything but a failure, and a pending one waits for the payer or
    the wallet as its code tells."""
    try:
        said = STATUSES[WalletStatus(status)]
    except ValueError:
        return UNRECOGNIZED
    if said in (Out.APPROVED, Out.CANCELED):
        return said, None
    meaning = meaning_of(code)
    if said is Out.PENDING:
        waiting = meaning[0] in (Out.REQUIRES_ACTION, Out.PENDING)
        return meaning if waiting else (Out.PENDING, None)
    failed = meaning[0] in (Out.DECLINED, Out.RISK_BLOCKED, Out.PROCESSING_ERROR)
    return meaning if failed else UNRECOGNIZED


def status_of(outcome: AuthorizationOutcome) -> WalletStatus:
    """The status the wallet shows for an outcome of its books."""
    return {
        Out.APPROVED: WalletStatus.SUCCESS,
        Out.REQUIRES_ACTION: WalletStatus.PENDING,
        Out.PENDING: WalletStatus.PENDING,
        Out.CANCELED: WalletStatus.CLOSED,
    }.get(outcome, WalletStatus.FAILURE)


def operation_status_of(status: str) -> OperationStatus:
    return {"SUCCESS": OperationStatus.SUCCEEDED, "PENDING": OperationStatus.PENDING}.get(
        status, OperationStatus.FAILED
    )


def rupees(amount: Money) -> dict[str, str]:
    """Minor units as the wallet writes amounts: `{value: "500.00", currency}`."""
    whole, paise = divmod(amount.amount, 100)
    return {"value": f"{whole}.{paise:02d}", "currency": amount.currency}


def minor_units(value: dict[str, Any]) -> Money:
    """The wallet's `{value, currency}` in minor units; more than two decimals is refused."""
    try:
        minor = Decimal(str(value["value"])) * 100
    except InvalidOperation:
        raise ValueError("the amount's value is not a number") from None
    if minor != minor.to_integral_value():
        raise ValueError("the amount's value has more than two decimals")
    return Money(int(minor), str(value.get("currency", "INR")).upper())
