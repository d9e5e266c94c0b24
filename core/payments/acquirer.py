"""The acquirer port: how the payments context talks to a card network, a UPI switch or a PSP.

One attempt at an acquirer is named by our attempt reference (`pa_...`). That reference is
the idempotency key at the acquirer: authorizing it twice returns the first result and
never authorizes twice, so a call whose reply was lost is simply asked again (`lookup`, or
the same `authorize`). Captures and refunds carry their own references for the same reason;
a void is idempotent by the attempt reference.

Outcomes come in two kinds and must never be confused:

    definitive   an AuthorizationResult: APPROVED, DECLINED, RISK_BLOCKED, PROCESSING_ERROR,
                 CANCELED, or REQUIRES_ACTION / PENDING (definitive for now, ask again later)
    unknown      AcquirerTimeout is raised: the request may or may not have been acted on.
                 Never treat it as a decline; ask the acquirer again with the same reference.

Errors (plain exceptions, kept apart from the API errors of core.shared.errors):

    AcquirerError
    ├── AcquirerTimeout          sent, no answer: outcome unknown, ask again
    ├── AcquirerUnavailable      not sent (refused connection, open circuit): retry is safe
    └── AcquirerRejected         the acquirer refused the request itself; nothing changed
        └── InvalidPaymentDetails  malformed payment details (names the field, e.g. upi.vpa)

Nothing in this module knows HTTP, gRPC or SQL; adapters/acquirers implements the port.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from core.payments.model import NextAction
from core.shared.errors import InvalidArgument
from core.shared.money import Money
from core.shared.secret import Secret


class AuthorizationOutcome(StrEnum):
    APPROVED = "APPROVED"  # funds held (card) or debited (UPI); capture to take them
    DECLINED = "DECLINED"  # definitive refusal by the issuer or payer; see decline_code
    REQUIRES_ACTION = "REQUIRES_ACTION"  # the payer must act: 3-D Secure, UPI collect
    PENDING = "PENDING"  # accepted; the final outcome follows, ask again with lookup()
    PROCESSING_ERROR = "PROCESSING_ERROR"  # nothing authorized; a new attempt may succeed
    RISK_BLOCKED = "RISK_BLOCKED"  # refused by a fraud screen before the issuer saw it
    CANCELED = "CANCELED"  # a pending action was abandoned (void) before it completed


FINAL_OUTCOMES = frozenset(
    {
        AuthorizationOutcome.APPROVED,
        AuthorizationOutcome.DECLINED,
        AuthorizationOutcome.PROCESSING_ERROR,
        AuthorizationOutcome.RISK_BLOCKED,
        AuthorizationOutcome.CANCELED,
    }
)


class DeclineCode(StrEnum):
    """Why an attempt failed, in the vocabulary merchants know from Stripe.

    Every acquirer mapping translates its own codes into these (a total mapping, tested per
    connector); `last_payment_error.decline_code` carries the value.
    """

    GENERIC_DECLINE = "generic_decline"
    DO_NOT_HONOR = "do_not_honor"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    INCORRECT_NUMBER = "incorrect_number"
    INCORRECT_PIN = "incorrect_pin"
    INVALID_AMOUNT = "invalid_amount"
    LOST_CARD = "lost_card"
    STOLEN_CARD = "stolen_card"
    PICKUP_CARD = "pickup_card"
    RESTRICTED_CARD = "restricted_card"
    FRAUDULENT = "fraudulent"
    TRANSACTION_NOT_ALLOWED = "transaction_not_allowed"
    CARD_VELOCITY_EXCEEDED = "card_velocity_exceeded"
    CARD_NOT_SUPPORTED = "card_not_supported"
    CURRENCY_NOT_SUPPORTED = "currency_not_supported"
    AUTHENTICATION_REQUIRED = "authentication_required"
    AUTHENTICATION_FAILED = "authentication_failed"
    PROCESSING_ERROR = "processing_error"
    ISSUER_NOT_AVAILABLE = "issuer_not_available"
    TRY_AGAIN_LATER = "try_again_later"
    DECLINED_BY_PAYER = "declined_by_payer"
    COLLECT_EXPIRED = "collect_expired"
    # A wallet or bank page the payer left without answering until it expired.
    APPROVAL_EXPIRED = "approval_expired"


class NextActionType(StrEnum):
    REDIRECT_TO_URL = "REDIRECT_TO_URL"  # 3-D Secure page, a wallet's or bank's approval page
    UPI_COLLECT = "UPI_COLLECT"  # approve in the UPI app; url is a upi://pay deep link


# --- payment sources -------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """A card as the acquirer needs it. The number and CVC never show in a repr or a log."""

    number: Secret
    exp_month: int
    exp_year: int
    brand: str  # lower case, as on a Token: visa, mastercard, amex, discover, rupay, ...
    cvc: Secret | None = None
    holder_name: str = ""

    @property
    def last4(self) -> str:
        return self.number.reveal()[-4:]


# NPCI virtual payment address: `user@handle`. The user part is 2-256 characters of letters,
# digits, dot, hyphen and underscore, starting with a letter or digit; the handle names the
# payer's PSP (okaxis, ybl, paytm, upi, ...): a letter, then 1-63 letters or digits. VPAs are
# case-insensitive, so they are compared and stored in lower case.
VPA_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,255}@[a-z][a-z0-9]{1,63}$")


def normalize_vpa(vpa: str) -> str | None:
    """The VPA in canonical (trimmed, lower-case) form, or None when it is not a VPA."""
    canonical = vpa.strip().lower()
    return canonical if VPA_PATTERN.fullmatch(canonical) else None


def parse_vpa(vpa: str, *, field: str = "upi.vpa") -> str:
    """The canonical VPA, or InvalidArgument naming `field`: for the validate phase."""
    canonical = normalize_vpa(vpa)
    if canonical is None:
        raise InvalidArgument.field(field, "is not a valid UPI address (name@psp)")
    return canonical


@dataclass(frozen=True)
class Upi:
    """A UPI payer, asked to approve a collect request in their UPI app."""

    vpa: str


@dataclass(frozen=True)
class Wallet:
    """A wallet account (core.payments.redirect_methods.WALLET_PROVIDERS), approved by the
    payer on the wallet's page; the account itself is entered there, never here."""

    provider: str


@dataclass(frozen=True)
class NetBanking:
    """A payer's bank (its IFSC prefix, redirect_methods.BANKS); the payer logs in and
    approves on the bank's page."""

    bank: str


@dataclass(frozen=True)
class CardReference:
    """A vaulted card, named and not carried: what the application zone (the API and the
    worker) sends. The cardholder-data zone (core.payments.zone) swaps it for the Card
    just before the connector's call, so the number never enters the application zone."""

    payment_method: str  # tok_... (single use: the zone consumes it) or pm_...
    livemode: bool
    purpose: str  # for the vault's audit: "payment_intent pi_... attempt pa_..."


PaymentSource = Card | Upi | CardReference | Wallet | NetBanking


# --- requests --------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationRequest:
    attempt_reference: str  # our attempt id; the idempotency key at the acquirer
    merchant_id: str
    amount: Money
    source: PaymentSource
    merchant_name: str = ""  # shown to the payer (UPI `pn`, statement descriptor)
    description: str = ""
    # 3-D Secure whatever the issuer would do: the risk engine's review band. Cards only.
    require_authentication: bool = False
    # Where a wallet's or bank's page sends the payer back after they answered.
    return_url: str = ""
    # Set: a sale. Capture the whole amount in this same message, under this reference,
    # if the authorization is approved in it (not after a challenge, not PENDING); the
    # answer's `capture` says whether it was. An acquirer that makes no sales ignores it
    # and answers an authorization (docs/connectors.md, "a sale").
    capture_reference: str = ""


@dataclass(frozen=True)
class CaptureRequest:
    attempt_reference: str
    capture_reference: str  # idempotency key of this capture at the acquirer
    merchant_id: str
    amount: Money
    final: bool = True  # the last capture: the uncaptured rest is released


@dataclass(frozen=True)
class VoidRequest:
    attempt_reference: str
    merchant_id: str
    reason: str = ""


@dataclass(frozen=True)
class RefundRequest:
    attempt_reference: str
    refund_reference: str  # our refund id (`re_...`); the idempotency key at the acquirer
    merchant_id: str
    amount: Money
    reason: str = ""


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationResult:
    attempt_reference: str
    outcome: AuthorizationOutcome
    amount: Money
    acquirer_reference: str = ""  # the acquirer's id of this attempt, for support and recon
    decline_code: DeclineCode | None = None  # None when APPROVED or still pending
    acquirer_code: str = ""  # the acquirer's raw code (ISO 8583 field 39, NPCI, ...)
    authorization_code: str = ""  # the issuer's approval code when APPROVED
    message: str = ""  # for humans; never holds a card number
    next_action: NextAction | None = None  # set when REQUIRES_ACTION
    # A sale's capture, made in the same message as the approval: what a capture call
    # with the request's capture_reference would have answered. None: not captured.
    capture: OperationResult | None = None

    @property
    def is_final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES

    @property
    def retryable(self) -> bool:
        """A new attempt (with a new reference) may succeed where this one did not."""
        return self.outcome is AuthorizationOutcome.PROCESSING_ERROR


class OperationKind(StrEnum):
    CAPTURE = "CAPTURE"
    VOID = "VOID"
    REFUND = "REFUND"


class OperationStatus(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    PENDING = "PENDING"  # accepted, settles later (some acquirers' refunds); retry to ask
    FAILED = "FAILED"


@dataclass(frozen=True)
class OperationResult:
    """The answer to a capture, void or refund."""

    kind: OperationKind
    attempt_reference: str
    reference: str  # the capture / refund reference; the attempt reference for a void
    status: OperationStatus
    amount: Money
    acquirer_reference: str = ""
    failure_code: DeclineCode | None = None
    acquirer_code: str = ""


class DisputeReason(StrEnum):
    FRAUDULENT = "fraudulent"
    DUPLICATE = "duplicate"
    PRODUCT_NOT_RECEIVED = "product_not_received"
    PRODUCT_UNACCEPTABLE = "product_unacceptable"
    CREDIT_NOT_PROCESSED = "credit_not_processed"
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    UNRECOGNIZED = "unrecognized"
    GENERAL = "general"


@dataclass(frozen=True)
class AcquirerDispute:
    """A dispute (chargeback) the network opened against a captured charge."""

    sequence: int  # the feed's cursor: strictly increasing per acquirer
    dispute_reference: str  # the acquirer's id of the dispute
    attempt_reference: str
    capture_reference: str
    merchant_id: str
    amount: Money
    reason: DisputeReason
    opened_at: datetime


# --- errors ----------------------------------------------------------------------------


class AcquirerError(Exception):
    """The acquirer gave no usable answer. Messages never contain a card number."""


class AcquirerTimeout(AcquirerError):
    """Sent, but no reply: the outcome is unknown. Ask again with the same reference."""

    def __init__(self, reference: str, message: str = "") -> None:
        super().__init__(message or f"No reply from the acquirer for {reference}.")
        self.reference = reference


class AcquirerUnavailable(AcquirerError):
    """The request never reached the acquirer: nothing happened, a retry is safe."""


class RejectionCode(StrEnum):
    UNKNOWN_REFERENCE = "unknown_reference"
    REFERENCE_REUSED = "reference_reused"  # same reference, different parameters
    UNSUPPORTED_PAYMENT_SOURCE = "unsupported_payment_source"
    CURRENCY_NOT_SUPPORTED = "currency_not_supported"
    CURRENCY_MISMATCH = "currency_mismatch"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_PAYMENT_DETAILS = "invalid_payment_details"
    NOT_AUTHORIZED = "not_authorized"  # capture/void of an attempt that is not approved
    NO_ACTION_PENDING = "no_action_pending"  # complete_challenge without a challenge
    AMOUNT_EXCEEDS_AUTHORIZED = "amount_exceeds_authorized"
    AMOUNT_EXCEEDS_CAPTURED = "amount_exceeds_captured"
    ALREADY_CAPTURED = "already_captured"  # void after a capture, capture after the final one
    ALREADY_VOIDED = "already_voided"


class AcquirerRejected(AcquirerError):
    """The acquirer refused the request as such (definitive; nothing changed there)."""

    def __init__(self, code: RejectionCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidPaymentDetails(AcquirerRejected):
    """Malformed payment details; `field` is the API field to blame (e.g. `upi.vpa`)."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(RejectionCode.INVALID_PAYMENT_DETAILS, f"{field}: {description}")
        self.field = field
        self.description = description

    def to_invalid_argument(self) -> InvalidArgument:
        return InvalidArgument.field(self.field, self.description)


# --- the ports -------------------------------------------------------------------------


@runtime_checkable
class Acquirer(Protocol):
    """A card network, UPI switch or PSP. Every method may raise AcquirerError."""

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        """Authorizes once per attempt reference; a repeat returns the recorded result.

        With `request.capture_reference`, an acquirer that makes sales also captures an
        approval in the same message and answers the capture in `result.capture`, in
        this answer and in every later lookup; one that does not ignores it.

        Raises AcquirerTimeout when the outcome is unknown, AcquirerRejected (and its
        InvalidPaymentDetails) when the request itself is refused.
        """
        ...

    async def complete_challenge(self, attempt_reference: str, passed: bool) -> AuthorizationResult:
        """Finishes a REQUIRES_ACTION attempt (3-D Secure challenge, UPI app approval).

        Idempotent: once final, the recorded result is returned whatever `passed` says.
        """
        ...

    async def lookup(self, attempt_reference: str) -> AuthorizationResult | None:
        """The attempt as the acquirer knows it now, or None if it never reached it;
        with a sale's capture (`capture`) when it made one.

        This is how a lost reply is recovered and how a pending action (a UPI collect,
        a PENDING outcome) is polled to completion.
        """
        ...

    async def capture(self, request: CaptureRequest) -> OperationResult:
        """Captures up to the authorized amount in total; more raises AcquirerRejected."""
        ...

    async def void(self, request: VoidRequest) -> OperationResult:
        """Releases an uncaptured authorization, or cancels a pending action."""
        ...

    async def refund(self, request: RefundRequest) -> OperationResult:
        """Refunds up to the captured amount in total; more raises AcquirerRejected."""
        ...


@runtime_checkable
class DisputeFeed(Protocol):
    """Disputes opened by the network, read like a feed: remember the last sequence seen."""

    async def disputes_since(self, sequence: int = 0) -> Sequence[AcquirerDispute]:
        """Disputes with a sequence greater than `sequence`, oldest first."""
        ...
