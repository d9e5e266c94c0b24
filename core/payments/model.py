"""The payment intent aggregate: its statuses, the transitions between them, its events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

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


PAYMENT_METHOD_TYPES = frozenset({"card", "upi"})

S = Status
# Every legal move of an intent. Anything else is a bug or a wrong-state call.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.REQUIRES_PAYMENT_METHOD: frozenset({S.REQUIRES_CONFIRMATION, S.PROCESSING, S.CANCELED}),
    S.REQUIRES_CONFIRMATION: frozenset({S.PROCESSING, S.REQUIRES_PAYMENT_METHOD, S.CANCELED}),
    S.PROCESSING: frozenset(
        {S.REQUIRES_ACTION, S.REQUIRES_CAPTURE, S.SUCCEEDED, S.REQUIRES_PAYMENT_METHOD}
    ),
    S.REQUIRES_ACTION: frozenset({S.PROCESSING, S.REQUIRES_PAYMENT_METHOD, S.CANCELED}),
    S.REQUIRES_CAPTURE: frozenset({S.SUCCEEDED, S.CANCELED}),
    S.SUCCEEDED: frozenset(),
    S.CANCELED: frozenset(),
}
TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


@dataclass(frozen=True)
class PaymentError:
    code: str
    decline_code: str = ""
    message: str = ""


@dataclass(frozen=True)
class NextAction:
    type: str  # REDIRECT_TO_URL | UPI_COLLECT
    url: str
    qr_code: str = ""


@dataclass(frozen=True)
class PaymentEvent:
    """One immutable line of an intent's history."""

    payment_intent_id: str
    merchant_id: str
    from_status: Status | None
    to_status: Status
    actor: str
    occurred_at: datetime


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
    amount_capturable: int = 0
    amount_received: int = 0
    amount_refunded: int = 0
    payment_method: str = ""
    last_payment_error: PaymentError | None = None
    next_action: NextAction | None = None
    attempts: int = 0
    canceled_at: datetime | None = None
    cancellation_reason: str = ""
    # Optimistic concurrency: bumped by every saved change.
    version: int = 1
    events: list[PaymentEvent] = field(default_factory=list, compare=False, repr=False)

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
        )
        intent.events.append(
            PaymentEvent(id, merchant_id, None, Status.REQUIRES_PAYMENT_METHOD, actor, created)
        )
        return intent

    def transition(self, to: Status, *, actor: str, at: datetime) -> None:
        if to not in TRANSITIONS[self.status]:
            raise FailedPrecondition(
                f"This payment intent is {self.status.value} and cannot move to {to.value}.",
                reason="PAYMENT_INTENT_UNEXPECTED_STATE",
                metadata={"status": self.status.value},
            )
        self.events.append(PaymentEvent(self.id, self.merchant_id, self.status, to, actor, at))
        self.status = to

    def pull_events(self) -> list[PaymentEvent]:
        events, self.events = self.events, []
        return events
