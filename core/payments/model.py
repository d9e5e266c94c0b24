"""The payments aggregates: the payment intent, its attempts at an acquirer, its refunds.

One cohesive thing, kept in one module (about 670 lines): the three records and their
transition tables, which refer to each other.

As in hyperswitch, the intent (what the merchant wants to collect) and each attempt (one
try at an acquirer with one payment method) are separate records with separate statuses:

    intent   REQUIRES_PAYMENT_METHOD -> PROCESSING -> REQUIRES_ACTION -> ... -> SUCCEEDED
    attempt  PROCESSING -> REQUIRES_ACTION -> AUTHORIZED -> CAPTURE_PENDING -> CAPTURED

Each has a transition table; anything else is a bug or a wrong-state call and raises
FailedPrecondition PAYMENT_INTENT_UNEXPECTED_STATE naming the intent's status. While a
money-moving call to an acquirer is in flight (authorize, capture, void) the intent is
PROCESSING and the attempt's status says which call it is: that is the recovery point a
crashed process leaves behind (docs/payments.md).

Money on the intent, in minor units, always satisfies

    0 <= amount_capturable + amount_received <= amount
    0 <= amount_refunded <= amount_received

amount_capturable is what is authorized and neither captured nor released;
amount_refunded counts PENDING refunds too (they hold their amount until they fail).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from core.risk.model import RiskAssessment
from core.shared.errors import FailedPrecondition


class Status(StrEnum):
    REQUIRES_PAYMENT_METHOD = "REQUIRES_PAYMENT_METHOD"
    REQUIRES_CONFIRMATION = "REQUIRES_CONFIRMATION"
    REQUIRES_ACTION = "REQUIRES_ACTION"
    PROCESSING = "PROCESSING"
    REQUIRES_CAPTURE = "REQUIRES_CAPTURE"
    SUCCEEDED = "SUCCEEDED"
    CANCELED = "CANCELED"


class CaptureMethod(StrEnum):
    AUTOMATIC = "AUTOMATIC"
    MANUAL = "MANUAL"


PAYMENT_METHOD_TYPES = frozenset({"card", "upi", "wallet", "netbanking"})

S = Status
# Every legal move of an intent. Anything else is a bug or a wrong-state call.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.REQUIRES_PAYMENT_METHOD: frozenset({S.REQUIRES_CONFIRMATION, S.PROCESSING, S.CANCELED}),
    S.REQUIRES_CONFIRMATION: frozenset({S.PROCESSING, S.REQUIRES_PAYMENT_METHOD, S.CANCELED}),
    # An acquirer call is in flight (authorize, 3DS completion, capture or void).
    S.PROCESSING: frozenset(
        {S.REQUIRES_ACTION, S.REQUIRES_CAPTURE, S.SUCCEEDED, S.REQUIRES_PAYMENT_METHOD, S.CANCELED}
    ),
    # PROCESSING: completing the action, capturing automatically, or voiding (cancel);
    # REQUIRES_CAPTURE / REQUIRES_PAYMENT_METHOD: the acquirer settled it on its own (UPI).
    S.REQUIRES_ACTION: frozenset({S.PROCESSING, S.REQUIRES_CAPTURE, S.REQUIRES_PAYMENT_METHOD}),
    # Capturing and voiding both call the acquirer, so both go through PROCESSING.
    S.REQUIRES_CAPTURE: frozenset({S.PROCESSING}),
    S.SUCCEEDED: frozenset(),
    S.CANCELED: frozenset(),
}
TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
CONFIRMABLE = frozenset({S.REQUIRES_PAYMENT_METHOD, S.REQUIRES_CONFIRMATION})


class CancellationReason(StrEnum):
    REQUESTED_BY_CUSTOMER = "REQUESTED_BY_CUSTOMER"
    DUPLICATE = "DUPLICATE"
    FRAUDULENT = "FRAUDULENT"
    ABANDONED = "ABANDONED"
    EXPIRED = "EXPIRED"  # system: unconfirmed for an hour
    VOIDED = "VOIDED"  # system: authorized and not captured in time


MERCHANT_CANCELLATION_REASONS = frozenset(
    {
        CancellationReason.REQUESTED_BY_CUSTOMER,
        CancellationReason.DUPLICATE,
        CancellationReason.FRAUDULENT,
        CancellationReason.ABANDONED,
    }
)


class ErrorCode(StrEnum):
    """`last_payment_error.code` and the reason of the error the confirming call gets."""

    CARD_DECLINED = "CARD_DECLINED"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"  # a UPI payer's bank or the payer said no
    PROCESSING_ERROR = "PROCESSING_ERROR"  # nothing authorized; a new attempt may succeed
    RISK_BLOCKED = "RISK_BLOCKED"
    PAYMENT_METHOD_UNSUPPORTED = "PAYMENT_METHOD_UNSUPPORTED"  # e.g. UPI in another currency
    INVALID_PAYMENT_DETAILS = "INVALID_PAYMENT_DETAILS"
    ACQUIRER_UNAVAILABLE = "ACQUIRER_UNAVAILABLE"  # never reached the acquirer
    PAYMENT_CANCELED = "PAYMENT_CANCELED"  # the acquirer abandoned a pending action
    CAPTURE_FAILED = "CAPTURE_FAILED"
    CANCEL_FAILED = "CANCEL_FAILED"


# Failures that are no fault of the payment method do not use up the intent's attempts.
NOT_COUNTED = frozenset(
    {
        ErrorCode.ACQUIRER_UNAVAILABLE,
        ErrorCode.PAYMENT_METHOD_UNSUPPORTED,
        ErrorCode.INVALID_PAYMENT_DETAILS,
        ErrorCode.CAPTURE_FAILED,
        ErrorCode.CANCEL_FAILED,
    }
)


@dataclass(frozen=True)
class PaymentPolicy:
    """The knobs of the lifecycle (servers/runtime/settings.py sets them)."""

    max_failed_attempts: int = 5
    unconfirmed_ttl: timedelta = timedelta(hours=1)
    authorization_ttl: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        if self.max_failed_attempts < 1:
            raise ValueError("max_failed_attempts must be at least 1")


@dataclass(frozen=True)
class PaymentError:
    code: str
    decline_code: str = ""
    message: str = ""


@dataclass(frozen=True)
class PaymentMethodDetails:
    """How the latest attempt pays, as a merchant reads it (Stripe's
    payment_method_details): the type and that type's details, never a card number."""

    type: str  # card | upi | wallet | netbanking
    card_brand: str = ""
    card_last4: str = ""
    upi_vpa: str = ""
    wallet_provider: str = ""  # core.payments.redirect_methods.WALLET_PROVIDERS
    netbanking_bank: str = ""  # core.payments.redirect_methods.BANKS


@dataclass(frozen=True)
class NextAction:
    type: str  # REDIRECT_TO_URL | UPI_COLLECT
    url: str
    qr_code: str = ""


class EventKind(StrEnum):
    STATUS_CHANGED = "STATUS_CHANGED"
    ATTEMPT_FAILED = "ATTEMPT_FAILED"  # failed before it changed the intent's status
    REFUND_PENDING = "REFUND_PENDING"
    REFUND_SUCCEEDED = "REFUND_SUCCEEDED"
    REFUND_FAILED = "REFUND_FAILED"
    # The merchant's own fields changed (description, metadata, receipt_email): no money,
    # no status, no webhook (Stripe has no event for it), but a line of history.
    DETAILS_UPDATED = "DETAILS_UPDATED"


@dataclass(frozen=True)
class PaymentEvent:
    """One immutable line of an intent's history."""

    payment_intent_id: str
    merchant_id: str
    from_status: Status | None
    to_status: Status
    actor: str
    occurred_at: datetime
    kind: EventKind = EventKind.STATUS_CHANGED
    object_id: str = ""  # the attempt (pa_...) or refund (re_...) it is about
    amount: int | None = None  # money it moved, in minor units: captured, refunded


def unexpected_state(status: Status, action: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"This payment intent is {status.value}: it cannot {action}.",
        reason="PAYMENT_INTENT_UNEXPECTED_STATE",
        metadata={"status": status.value},
    )


@dataclass
class PaymentIntent:
    id: str
    merchant_id: str
    amount: int
    currency: str
    status: Status
    capture_method: CaptureMethod
    client_secret: str
    livemode: bool
    created: datetime
    payment_method_types: tuple[str, ...] = ("card",)
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    receipt_email: str = ""
    return_url: str = ""
    success_url: str = ""  # the hosted checkout's destination after a payment
    cancel_url: str = ""  # ... and its "Back" link
    amount_capturable: int = 0
    amount_received: int = 0
    amount_refunded: int = 0
    payment_method: str = ""
    last_payment_error: PaymentError | None = None
    next_action: NextAction | None = None
    attempts: int = 0
    canceled_at: datetime | None = None
    cancellation_reason: str = ""
    latest_attempt: str = ""  # pa_... of the attempt that holds (or last tried) the money
    failed_attempts: int = 0  # those that count against PaymentPolicy.max_failed_attempts
    capture_before: datetime | None = None  # set while authorized: voided after it
    risk: RiskAssessment | None = None  # the latest attempt's (None before any)
    # The latest attempt's method (None before any); kept after it fails, as Stripe keeps
    # a failed charge's.
    payment_method_details: PaymentMethodDetails | None = None
    # Optimistic concurrency: bumped by every saved change.
    version: int = 1
    events: list[PaymentEvent] = field(default_factory=list, compare=False, repr=False)

    def secret_matches(self, client_secret: str) -> bool:
        """Whether a publishable key's caller presented this intent's client_secret; in
        constant time, as every secret is compared."""
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def browser_view(self) -> PaymentIntent:
        """What a browser holding the publishable key and the client secret may read: what
        a checkout needs to show and to complete the payment (docs/payments.md, "The
        browser's view"), nothing of the merchant's own records: no metadata,
        description, receipt email, saved payment method or attempt ids, no amounts
        captured or refunded."""
        return PaymentIntent(
            id=self.id,
            merchant_id=self.merchant_id,
            amount=self.amount,
            currency=self.currency,
            status=self.status,
            capture_method=self.capture_method,
            client_secret=self.client_secret,
            livemode=self.livemode,
            created=self.created,
            payment_method_types=self.payment_method_types,
            return_url=self.return_url,
            last_payment_error=self.last_payment_error,
            next_action=self.next_action,
            canceled_at=self.canceled_at,
            cancellation_reason=self.cancellation_reason,
            version=self.version,
        )

    def as_seen_by(self, publishable: bool) -> PaymentIntent:
        return self.browser_view() if publishable else self

    @classmethod
    def create(
        cls,
        *,
        id: str,
        merchant_id: str,
        amount: int,
        currency: str,
        capture_method: CaptureMethod,
        client_secret: str,
        livemode: bool,
        created: datetime,
        actor: str,
        payment_method_types: tuple[str, ...] = ("card",),
        description: str = "",
        metadata: dict[str, str] | None = None,
        receipt_email: str = "",
        return_url: str = "",
        success_url: str = "",
        cancel_url: str = "",
    ) -> PaymentIntent:
        intent = cls(
            id=id,
            merchant_id=merchant_id,
            amount=amount,
            currency=currency,
            status=Status.REQUIRES_PAYMENT_METHOD,
            capture_method=capture_method,
            client_secret=client_secret,
            livemode=livemode,
            created=created,
            payment_method_types=payment_method_types,
            description=description,
            metadata=dict(metadata or {}),
            receipt_email=receipt_email,
            return_url=return_url,
            success_url=success_url,
            cancel_url=cancel_url,
        )
        intent.events.append(
            PaymentEvent(id, merchant_id, None, Status.REQUIRES_PAYMENT_METHOD, actor, created)
        )
        return intent

    # --- the state machine -------------------------------------------------------------

    def transition(
        self,
        to: Status,
        *,
        actor: str,
        at: datetime,
        object_id: str = "",
        amount: int | None = None,
    ) -> None:
        if to not in TRANSITIONS[self.status]:
            raise FailedPrecondition(
                f"This payment intent is {self.status.value} and cannot move to {to.value}.",
                reason="PAYMENT_INTENT_UNEXPECTED_STATE",
                metadata={"status": self.status.value},
            )
        self.events.append(
            PaymentEvent(
                self.id,
                self.merchant_id,
                self.status,
                to,
                actor,
                at,
                object_id=object_id,
                amount=amount,
            )
        )
        self.status = to

    def record(
        self, kind: EventKind, *, actor: str, at: datetime, object_id: str, amount: int | None
    ) -> None:
        """An event that leaves the status as it is (a refund, a blocked attempt)."""
        self.events.append(
            PaymentEvent(
                self.id,
                self.merchant_id,
                self.status,
                self.status,
                actor,
                at,
                kind=kind,
                object_id=object_id,
                amount=amount,
            )
        )

    def update_details(
        self,
        *,
        description: str | None,
        metadata: Mapping[str, str],
        receipt_email: str | None,
        actor: str,
        at: datetime,
    ) -> None:
        """The merchant's own fields, in any status. Metadata merges key by key, Stripe's
        way: a key with an empty value is removed."""
        if description is not None:
            self.description = description
        if receipt_email is not None:
            self.receipt_email = receipt_email
        if metadata:
            merged = {**self.metadata, **metadata}
            self.metadata = {k: v for k, v in merged.items() if v != ""}
        self.record(EventKind.DETAILS_UPDATED, actor=actor, at=at, object_id="", amount=None)

    def pull_events(self) -> list[PaymentEvent]:
        events, self.events = self.events, []
        return events

    def require(self, action: str, *statuses: Status) -> None:
        if self.status not in statuses:
            raise unexpected_state(self.status, action)

    # --- attempts ----------------------------------------------------------------------

    def ensure_can_attempt(self, policy: PaymentPolicy) -> None:
        self.require("be confirmed", *CONFIRMABLE)
        if self.failed_attempts >= policy.max_failed_attempts:
            raise FailedPrecondition(
                f"This payment intent has failed {self.failed_attempts} times, the most "
                "allowed. Create a new payment intent.",
                reason="ATTEMPTS_EXHAUSTED",
                metadata={"max_failed_attempts": str(policy.max_failed_attempts)},
            )

    def begin_attempt(
        self, attempt: PaymentAttempt, *, policy: PaymentPolicy, actor: str, at: datetime
    ) -> None:
        """Confirm's first phase: the attempt is about to be sent to the acquirer."""
        self.ensure_can_attempt(policy)
        self._attach(attempt)
        self.transition(Status.PROCESSING, actor=actor, at=at, object_id=attempt.id)

    def reject_attempt(
        self, attempt: PaymentAttempt, *, policy: PaymentPolicy, actor: str, at: datetime
    ) -> None:
        """An attempt that failed before reaching any acquirer (the risk screen)."""
        self.ensure_can_attempt(policy)
        self._attach(attempt)
        if attempt.error is None:
            raise ValueError("a rejected attempt carries its error")
        self._fail(attempt.error)
        if self.status is Status.REQUIRES_CONFIRMATION:
            self.transition(
                Status.REQUIRES_PAYMENT_METHOD, actor=actor, at=at, object_id=attempt.id
            )
        else:
            self.record(
                EventKind.ATTEMPT_FAILED, actor=actor, at=at, object_id=attempt.id, amount=None
            )

    def _attach(self, attempt: PaymentAttempt) -> None:
        self.attempts += 1
        self.latest_attempt = attempt.id
        self.payment_method = attempt.payment_method
        self.risk = attempt.risk
        self.payment_method_details = attempt.method_details
        self.last_payment_error = None
        self.next_action = None

    def _fail(self, error: PaymentError) -> None:
        self.last_payment_error = error
        self.next_action = None
        self.amount_capturable = 0
        self.capture_before = None
        if error.code not in NOT_COUNTED:
            self.failed_attempts += 1

    def action_required(self, next_action: NextAction, *, actor: str, at: datetime) -> None:
        self.next_action = next_action
        if self.status is not Status.REQUIRES_ACTION:
            self.transition(
                Status.REQUIRES_ACTION, actor=actor, at=at, object_id=self.latest_attempt
            )

    def action_started(self, *, actor: str, at: datetime) -> None:
        """The customer answered the action; the acquirer is being told (3DS, UPI)."""
        self.require("complete an action", Status.REQUIRES_ACTION)
        self.next_action = None
        self.transition(Status.PROCESSING, actor=actor, at=at, object_id=self.latest_attempt)

    def attempt_failed(self, error: PaymentError, *, actor: str, at: datetime) -> None:
        self._fail(error)
        self.transition(
            Status.REQUIRES_PAYMENT_METHOD, actor=actor, at=at, object_id=self.latest_attempt
        )

    def authorized(self, amount: int, *, policy: PaymentPolicy, actor: str, at: datetime) -> None:
        """Funds are held. MANUAL waits for capture; AUTOMATIC is captured next."""
        if not 0 < amount <= self.amount - self.amount_received:
            raise ValueError(f"cannot authorize {amount} of an intent of {self.amount}")
        self.amount_capturable = amount
        self.capture_before = at + policy.authorization_ttl
        self.next_action = None
        self.last_payment_error = None
        if self.capture_method is CaptureMethod.MANUAL:
            self.transition(
                Status.REQUIRES_CAPTURE, actor=actor, at=at, object_id=self.latest_attempt
            )
        elif self.status is not Status.PROCESSING:
            self.transition(Status.PROCESSING, actor=actor, at=at, object_id=self.latest_attempt)

    # --- capture -----------------------------------------------------------------------

    def begin_capture(self, amount: int, *, actor: str, at: datetime) -> None:
        self.require("be captured", Status.REQUIRES_CAPTURE)
        self.check_capture_amount(amount)
        self.transition(Status.PROCESSING, actor=actor, at=at, object_id=self.latest_attempt)

    def check_capture_amount(self, amount: int) -> None:
        if amount > self.amount_capturable:
            raise FailedPrecondition(
                f"amount_to_capture {amount} is more than the {self.amount_capturable} "
                "that can be captured.",
                reason="AMOUNT_TOO_LARGE",
                metadata={
                    "param": "amount_to_capture",
                    "amount_capturable": str(self.amount_capturable),
                },
            )

    def captured(self, amount: int, *, actor: str, at: datetime) -> None:
        """The capture settled: the rest of the authorization is released."""
        if not 0 < amount <= self.amount_capturable:
            raise ValueError(f"captured {amount} of {self.amount_capturable} capturable")
        self.amount_received += amount
        self.amount_capturable = 0
        self.capture_before = None
        self.last_payment_error = None
        self.transition(
            Status.SUCCEEDED, actor=actor, at=at, object_id=self.latest_attempt, amount=amount
        )

    def capture_failed(self, error: PaymentError, *, actor: str, at: datetime) -> None:
        self.last_payment_error = error
        self.transition(Status.REQUIRES_CAPTURE, actor=actor, at=at, object_id=self.latest_attempt)

    # --- cancel ------------------------------------------------------------------------

    def cancel(self, reason: CancellationReason | None, *, actor: str, at: datetime) -> None:
        """Cancels an intent no acquirer holds anything for (no attempt in flight)."""
        self.require("be canceled", *CONFIRMABLE)
        self._canceled(reason.value if reason else "", actor=actor, at=at)

    def begin_void(self, reason: CancellationReason | None, *, actor: str, at: datetime) -> None:
        """Cancel's first phase when the acquirer holds an authorization or an action.

        The reason is kept from now on, so that whoever settles the void (this request or
        the recovery worker) cancels with it.
        """
        self.require("be canceled", Status.REQUIRES_CAPTURE, Status.REQUIRES_ACTION)
        self.cancellation_reason = reason.value if reason else ""
        self.next_action = None
        self.transition(Status.PROCESSING, actor=actor, at=at, object_id=self.latest_attempt)

    def voided(self, *, actor: str, at: datetime) -> None:
        self._canceled(self.cancellation_reason, actor=actor, at=at)

    def void_failed(
        self, back_to: Status, next_action: NextAction | None, *, actor: str, at: datetime
    ) -> None:
        self.cancellation_reason = ""
        self.next_action = next_action
        self.transition(back_to, actor=actor, at=at, object_id=self.latest_attempt)

    def _canceled(self, reason: str, *, actor: str, at: datetime) -> None:
        self.cancellation_reason = reason
        self.canceled_at = at
        self.amount_capturable = 0
        self.capture_before = None
        self.next_action = None
        self.transition(Status.CANCELED, actor=actor, at=at, object_id=self.latest_attempt)

    # --- refunds -----------------------------------------------------------------------

    @property
    def amount_refundable(self) -> int:
        return self.amount_received - self.amount_refunded

    def reserve_refund(self, refund: Refund, *, actor: str, at: datetime) -> None:
        """Holds the refund's amount against what was received, before the acquirer call."""
        self.require("be refunded", Status.SUCCEEDED)
        if self.amount_refundable == 0:
            raise FailedPrecondition(
                f"Payment intent {self.id} has already been refunded in full.",
                reason="CHARGE_ALREADY_REFUNDED",
                metadata={"payment_intent": self.id},
            )
        if refund.amount > self.amount_refundable:
            raise FailedPrecondition(
                f"Refund amount {refund.amount} is more than the {self.amount_refundable} "
                "that can still be refunded.",
                reason="AMOUNT_TOO_LARGE",
                metadata={"param": "amount", "amount_refundable": str(self.amount_refundable)},
            )
        self.amount_refunded += refund.amount
        self.record(
            EventKind.REFUND_PENDING, actor=actor, at=at, object_id=refund.id, amount=refund.amount
        )

    def refund_settled(self, refund: Refund, *, actor: str, at: datetime) -> None:
        """Records a refund's final status; a failed one gives its amount back."""
        if refund.status is RefundStatus.FAILED:
            self.amount_refunded -= refund.amount
            kind = EventKind.REFUND_FAILED
        elif refund.status is RefundStatus.SUCCEEDED:
            kind = EventKind.REFUND_SUCCEEDED
        else:
            raise ValueError("a pending refund is not settled")
        self.record(kind, actor=actor, at=at, object_id=refund.id, amount=refund.amount)


# --- attempts ----------------------------------------------------------------------------


class AttemptStatus(StrEnum):
    PROCESSING = "PROCESSING"  # authorization (or 3DS completion) sent; outcome unknown yet
    REQUIRES_ACTION = "REQUIRES_ACTION"  # the payer must act (3DS, UPI collect)
    AUTHORIZED = "AUTHORIZED"  # funds held, not captured
    CAPTURE_PENDING = "CAPTURE_PENDING"  # capture sent; outcome unknown yet
    CAPTURED = "CAPTURED"
    VOID_PENDING = "VOID_PENDING"  # void sent; outcome unknown yet
    VOIDED = "VOIDED"
    FAILED = "FAILED"


A = AttemptStatus
ATTEMPT_TRANSITIONS: dict[AttemptStatus, frozenset[AttemptStatus]] = {
    A.PROCESSING: frozenset({A.REQUIRES_ACTION, A.AUTHORIZED, A.CAPTURE_PENDING, A.FAILED}),
    A.REQUIRES_ACTION: frozenset(
        {A.PROCESSING, A.AUTHORIZED, A.CAPTURE_PENDING, A.FAILED, A.VOID_PENDING}
    ),
    A.AUTHORIZED: frozenset({A.CAPTURE_PENDING, A.VOID_PENDING}),
    A.CAPTURE_PENDING: frozenset({A.CAPTURED, A.AUTHORIZED}),
    A.VOID_PENDING: frozenset({A.VOIDED, A.AUTHORIZED, A.REQUIRES_ACTION}),
    A.CAPTURED: frozenset(),
    A.VOIDED: frozenset(),
    A.FAILED: frozenset(),
}
# Waiting on an acquirer call whose answer may have been lost: what recovery looks for.
IN_FLIGHT = frozenset({A.PROCESSING, A.CAPTURE_PENDING, A.VOID_PENDING})
# Waiting on the acquirer at all (sync_attempt asks it).
UNSETTLED = IN_FLIGHT | {A.REQUIRES_ACTION}


@dataclass
class PaymentAttempt:
    """One try at an acquirer. Holds no card number: brand, last4 and fingerprint at most."""

    id: str  # pa_...: also the reference (idempotency key) at the acquirer
    merchant_id: str
    payment_intent_id: str
    amount: int
    currency: str
    status: AttemptStatus
    payment_method_type: str  # card | upi | wallet | netbanking
    acquirer: str  # which connector holds it (AcquirerRouter name); moves on a failover
    created: datetime
    updated_at: datetime
    payment_method: str = ""  # tok_... or pm_...; "" for UPI
    card_brand: str = ""
    card_last4: str = ""
    card_fingerprint: str = ""
    upi_vpa: str = ""
    wallet_provider: str = ""  # the wallet the payer chose (paytm, ...), for `wallet`
    netbanking_bank: str = ""  # the bank's code (HDFC, ...), for `netbanking`
    acquirer_reference: str = ""
    acquirer_code: str = ""
    authorization_code: str = ""
    error: PaymentError | None = None
    next_action: NextAction | None = None
    amount_authorized: int = 0
    amount_captured: int = 0
    amount_to_capture: int = 0  # while CAPTURE_PENDING
    capture_reference: str = ""  # idempotency key of the capture at the acquirer
    captures: int = 0  # capture tries, to make each one's reference unique
    route: str = ""  # the routing rule that chose the acquirers (core.payments.routing)
    # Every acquirer asked, in order: {acquirer, outcome, code} (core.payments.failover.Try)
    tries: list[dict[str, str]] = field(default_factory=list)
    authorized_at: datetime | None = None
    risk: RiskAssessment | None = None  # the risk engine's, when it saw the attempt
    version: int = 1
    livemode: bool = False  # the intent's mode (analytics counts attempts per mode)

    @property
    def decline_code(self) -> str:
        """What a failed attempt counts under in the decline reasons: the acquirer's
        decline code, else the error's code; "" when it has no error."""
        return (self.error.decline_code or self.error.code) if self.error is not None else ""

    @property
    def method_details(self) -> PaymentMethodDetails:
        return PaymentMethodDetails(
            type=self.payment_method_type,
            card_brand=self.card_brand,
            card_last4=self.card_last4,
            upi_vpa=self.upi_vpa,
            wallet_provider=self.wallet_provider,
            netbanking_bank=self.netbanking_bank,
        )

    def move(self, to: AttemptStatus, at: datetime) -> None:
        if to not in ATTEMPT_TRANSITIONS[self.status]:
            raise FailedPrecondition(
                f"Attempt {self.id} is {self.status.value} and cannot move to {to.value}.",
                reason="PAYMENT_ATTEMPT_UNEXPECTED_STATE",
                metadata={"attempt_status": self.status.value},
            )
        self.status = to
        self.updated_at = at

    def fail(self, error: PaymentError, at: datetime) -> None:
        self.error = error
        self.next_action = None
        self.move(AttemptStatus.FAILED, at)

    def authorize(self, amount: int, at: datetime, *, automatic: bool) -> None:
        self.amount_authorized = amount
        self.authorized_at = at
        self.next_action = None
        self.move(AttemptStatus.AUTHORIZED, at)
        if automatic:
            self.begin_capture(amount, at)

    def begin_capture(self, amount: int, at: datetime) -> None:
        if not 0 < amount <= self.amount_authorized - self.amount_captured:
            raise ValueError(f"cannot capture {amount} of attempt {self.id}")
        self.amount_to_capture = amount
        self.capture_reference = self.next_capture_reference
        self.captures += 1
        self.move(AttemptStatus.CAPTURE_PENDING, at)

    @property
    def next_capture_reference(self) -> str:
        """The reference of this attempt's next capture: known before it is begun, so an
        automatic capture can travel with the authorization (a sale)."""
        return f"{self.id}_capture_{self.captures + 1}"

    def captured(self, at: datetime) -> int:
        amount = self.amount_to_capture
        self.amount_captured += amount
        self.amount_to_capture = 0
        self.move(AttemptStatus.CAPTURED, at)
        return amount

    def capture_failed(self, error: PaymentError, at: datetime) -> None:
        self.error = error
        self.amount_to_capture = 0
        self.move(AttemptStatus.AUTHORIZED, at)

    @property
    def was_authorized(self) -> bool:
        return self.authorized_at is not None

    def void_failed(self, at: datetime) -> None:
        self.move(
            AttemptStatus.AUTHORIZED if self.was_authorized else AttemptStatus.REQUIRES_ACTION, at
        )


# --- refunds -----------------------------------------------------------------------------


class RefundStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class RefundReason(StrEnum):
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    REQUESTED_BY_CUSTOMER = "requested_by_customer"


@dataclass
class Refund:
    id: str  # re_...: also the refund's reference (idempotency key) at the acquirer
    merchant_id: str
    payment_intent_id: str
    attempt_id: str
    amount: int
    currency: str
    status: RefundStatus
    created: datetime
    updated_at: datetime
    reason: str = ""  # a RefundReason value, or ""
    acquirer_reference: str = ""
    failure_code: str = ""
    version: int = 1
    livemode: bool = False  # the intent's mode

    def settle(
        self,
        status: RefundStatus,
        at: datetime,
        *,
        acquirer_reference: str = "",
        failure_code: str = "",
    ) -> None:
        if self.status is not RefundStatus.PENDING:
            raise FailedPrecondition(
                f"Refund {self.id} is already {self.status.value}.",
                reason="REFUND_UNEXPECTED_STATE",
                metadata={"status": self.status.value},
            )
        self.status = status
        self.updated_at = at
        self.acquirer_reference = acquirer_reference or self.acquirer_reference
        self.failure_code = failure_code
