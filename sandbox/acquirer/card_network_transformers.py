"""The simulated card network's codes, and what each means in paygate's terms.

The simulator speaks ISO 8583 response codes (field 39) as card networks do, plus Visa's
`1A` soft decline (strong customer authentication required) and one code of its own for
its fraud screen. EMV 3-D Secure results (`transStatus`) get a table too. Both tables are
total over their code sets (tests check it), and a code the tables do not know maps to a
generic decline: never to an approval, never to a retry storm.
"""

from __future__ import annotations

from enum import StrEnum

from core.payments.acquirer import AuthorizationOutcome, DeclineCode, OperationStatus
from sandbox.acquirer.simulation import CodeMeaning

Out = AuthorizationOutcome
D = DeclineCode


class NetworkCode(StrEnum):
    APPROVED = "00"
    PICK_UP_CARD = "04"
    DO_NOT_HONOR = "05"
    INVALID_TRANSACTION = "12"
    INVALID_AMOUNT = "13"
    INVALID_CARD_NUMBER = "14"
    RE_ENTER_TRANSACTION = "19"
    LOST_CARD = "41"
    STOLEN_CARD = "43"
    INSUFFICIENT_FUNDS = "51"
    EXPIRED_CARD = "54"
    INCORRECT_PIN = "55"
    NOT_PERMITTED_TO_CARDHOLDER = "57"
    NOT_PERMITTED_TO_TERMINAL = "58"
    SUSPECTED_FRAUD = "59"
    EXCEEDS_AMOUNT_LIMIT = "61"
    RESTRICTED_CARD = "62"
    EXCEEDS_FREQUENCY_LIMIT = "65"
    ISSUER_UNAVAILABLE = "91"
    SYSTEM_MALFUNCTION = "96"
    CVV_MISMATCH = "N7"  # Visa: CVV2 failure
    AUTHENTICATION_REQUIRED = "1A"  # Visa: additional customer authentication required
    ACQUIRER_RISK_BLOCK = "RB"  # the simulator's own fraud screen (not an issuer code)


def _declined(code: DeclineCode, message: str) -> CodeMeaning:
    return CodeMeaning(Out.DECLINED, code, message)


C = NetworkCode
NETWORK_CODES: dict[NetworkCode, CodeMeaning] = {
    C.APPROVED: CodeMeaning(Out.APPROVED, None, "Approved."),
    C.PICK_UP_CARD: _declined(D.PICKUP_CARD, "The card was declined."),
    # Most issuers answer 05 for "no reason given"; merchants know it as generic_decline.
    C.DO_NOT_HONOR: _declined(D.GENERIC_DECLINE, "The card was declined."),
    C.INVALID_TRANSACTION: _declined(D.TRANSACTION_NOT_ALLOWED, "The card was declined."),
    C.INVALID_AMOUNT: _declined(D.INVALID_AMOUNT, "The amount is not valid for this card."),
    C.INVALID_CARD_NUMBER: _declined(D.INCORRECT_NUMBER, "The card number is incorrect."),
    C.RE_ENTER_TRANSACTION: CodeMeaning(
        Out.PROCESSING_ERROR, D.TRY_AGAIN_LATER, "The card network asks to try again."
    ),
    C.LOST_CARD: _declined(D.LOST_CARD, "The card was declined."),
    C.STOLEN_CARD: _declined(D.STOLEN_CARD, "The card was declined."),
    C.INSUFFICIENT_FUNDS: _declined(D.INSUFFICIENT_FUNDS, "The card has insufficient funds."),
    C.EXPIRED_CARD: _declined(D.EXPIRED_CARD, "The card has expired."),
    C.INCORRECT_PIN: _declined(D.INCORRECT_PIN, "The PIN is incorrect."),
    C.NOT_PERMITTED_TO_CARDHOLDER: _declined(D.TRANSACTION_NOT_ALLOWED, "The card was declined."),
    C.NOT_PERMITTED_TO_TERMINAL: _declined(
        D.CARD_NOT_SUPPORTED, "The card does not support this kind of purchase."
    ),
    C.SUSPECTED_FRAUD: _declined(D.FRAUDULENT, "The card was declined."),
    C.EXCEEDS_AMOUNT_LIMIT: _declined(D.CARD_VELOCITY_EXCEEDED, "The card was declined."),
    C.RESTRICTED_CARD: _declined(D.RESTRICTED_CARD, "The card was declined."),
    C.EXCEEDS_FREQUENCY_LIMIT: _declined(D.CARD_VELOCITY_EXCEEDED, "The card was declined."),
    C.ISSUER_UNAVAILABLE: CodeMeaning(
        Out.PROCESSING_ERROR, D.ISSUER_NOT_AVAILABLE, "The card issuer could not be reached."
    ),
    C.SYSTEM_MALFUNCTION: CodeMeaning(
        Out.PROCESSING_ERROR, D.PROCESSING_ERROR, "An error occurred while processing the card."
    ),
    C.CVV_MISMATCH: _declined(D.INCORRECT_CVC, "The card's security code is incorrect."),
    C.AUTHENTICATION_REQUIRED: CodeMeaning(
        Out.REQUIRES_ACTION, None, "The card requires authentication."
    ),
    C.ACQUIRER_RISK_BLOCK: CodeMeaning(
        Out.RISK_BLOCKED, D.FRAUDULENT, "The payment was blocked as likely fraudulent."
    ),
}

UNRECOGNIZED = _declined(D.GENERIC_DECLINE, "The card was declined.")


def meaning_of(code: str) -> CodeMeaning:
    """What a network code means; an unknown code is a generic decline."""
    try:
        return NETWORK_CODES[NetworkCode(code)]
    except ValueError:
        return UNRECOGNIZED


def operation_status(code: str) -> tuple[OperationStatus, DeclineCode | None]:
    """A capture, void or refund succeeded on `00` only; otherwise why it failed."""
    meaning = meaning_of(code)
    if meaning.outcome is Out.APPROVED:
        return OperationStatus.SUCCEEDED, None
    return OperationStatus.FAILED, meaning.decline_code or D.GENERIC_DECLINE


class ThreeDSStatus(StrEnum):
    """EMV 3-D Secure transStatus, as the access control server reports it."""

    AUTHENTICATED = "Y"
    ATTEMPTED = "A"  # the issuer did not take part; liability still shifts
    NOT_AUTHENTICATED = "N"
    REJECTED = "R"
    UNAVAILABLE = "U"
    CHALLENGE_REQUIRED = "C"


# None: authentication is done, send the authorization to the network.
THREE_DS_RESULTS: dict[ThreeDSStatus, CodeMeaning | None] = {
    ThreeDSStatus.AUTHENTICATED: None,
    ThreeDSStatus.ATTEMPTED: None,
    ThreeDSStatus.NOT_AUTHENTICATED: _declined(
        D.AUTHENTICATION_FAILED, "The cardholder failed 3-D Secure authentication."
    ),
    ThreeDSStatus.REJECTED: _declined(
        D.AUTHENTICATION_FAILED, "The issuer rejected 3-D Secure authentication."
    ),
    ThreeDSStatus.UNAVAILABLE: CodeMeaning(
        Out.PROCESSING_ERROR, D.TRY_AGAIN_LATER, "3-D Secure authentication was unavailable."
    ),
    ThreeDSStatus.CHALLENGE_REQUIRED: CodeMeaning(
        Out.REQUIRES_ACTION, None, "The card requires authentication."
    ),
}
