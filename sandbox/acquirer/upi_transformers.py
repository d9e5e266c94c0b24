"""The simulated UPI switch's result codes (NPCI response codes), in paygate's terms.

Total over UpiCode (tested); an unknown code is a generic decline.
"""

from __future__ import annotations

from enum import StrEnum

from core.payments.acquirer import AuthorizationOutcome, DeclineCode
from sandbox.acquirer.simulation import CodeMeaning

Out = AuthorizationOutcome
D = DeclineCode


class UpiCode(StrEnum):
    SUCCESS = "00"
    DEBIT_FAILED = "U30"
    RISK_THRESHOLD_EXCEEDED = "U16"
    COLLECT_EXPIRED = "U69"
    INSUFFICIENT_FUNDS = "Z9"
    DECLINED_BY_PAYER = "ZA"
    INCORRECT_PIN = "ZM"


UPI_CODES: dict[UpiCode, CodeMeaning] = {
    UpiCode.SUCCESS: CodeMeaning(Out.APPROVED, None, "Approved."),
    UpiCode.DEBIT_FAILED: CodeMeaning(
        Out.DECLINED, D.GENERIC_DECLINE, "The payer's bank could not debit the account."
    ),
    UpiCode.RISK_THRESHOLD_EXCEEDED: CodeMeaning(
        Out.RISK_BLOCKED, D.FRAUDULENT, "The UPI switch blocked the payment as risky."
    ),
    UpiCode.COLLECT_EXPIRED: CodeMeaning(
        Out.DECLINED, D.COLLECT_EXPIRED, "The payer did not approve the request in time."
    ),
    UpiCode.INSUFFICIENT_FUNDS: CodeMeaning(
        Out.DECLINED, D.INSUFFICIENT_FUNDS, "The payer's account has insufficient funds."
    ),
    UpiCode.DECLINED_BY_PAYER: CodeMeaning(
        Out.DECLINED, D.DECLINED_BY_PAYER, "The payer declined the request."
    ),
    UpiCode.INCORRECT_PIN: CodeMeaning(Out.DECLINED, D.INCORRECT_PIN, "The UPI PIN was incorrect."),
}

UNRECOGNIZED = CodeMeaning(Out.DECLINED, D.GENERIC_DECLINE, "The UPI payment failed.")


def meaning_of(code: str) -> CodeMeaning:
    try:
        return UPI_CODES[UpiCode(code)]
    except ValueError:
        return UNRECOGNIZED
