"""The business records money movements hang off: settlements, payouts and disputes.

Journal entries are the money; these records are the state machines around it (a dispute
waiting for evidence, a payout in transit, a settlement claimed by a worker). Each change
of a record that moves money is written in the same transaction as its journal entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from core.ledger.model import BalanceTransaction
from core.shared.errors import FailedPrecondition

__all__ = [
    "AutomaticPayout",
    "Dispute",
    "DisputeEvidence",
    "DisputeOutcome",
    "DisputeStatus",
    "DueTransaction",
    "Payout",
    "PayoutMethod",
    "PayoutStatus",
    "Settlement",
    "SettlementStatus",
    "SettlementTotals",
    "midnight",
]


def midnight(day: date) -> datetime:
    """00:00 UTC at the start of `day`."""
    return datetime.combine(day, time(0), tzinfo=UTC)


# --- settlements ---------------------------------------------------------------------


class SettlementStatus(StrEnum):
    PENDING = "PENDING"  # planned; a worker has not completed it yet
    COMPLETED = "COMPLETED"


class AutomaticPayout(StrEnum):
    """What the daily automatic payout did after a settlement."""

    NOT_DUE = "NOT_DUE"  # the settlement is not completed yet
    DUE = "DUE"  # completed; the payout batch has not looked at it yet
    PAID = "PAID"  # a payout was sent (payout_id)
    SKIPPED = "SKIPPED"  # manual schedule, nothing available, or under the minimum


@dataclass(frozen=True)
class DueTransaction:
    """A balance transaction a settlement takes, with what its entry did to the
    merchant's pending balance (credits positive: a capture's net; a refund or dispute
    paid partly from pending is negative)."""

    transaction: BalanceTransaction
    pending: int


@dataclass(frozen=True)
class SettlementTotals:
    count: int = 0
    amount: int = 0
    fee: int = 0
    net: int = 0

    @classmethod
    def of(cls, transactions: list[BalanceTransaction]) -> SettlementTotals:
        return cls(
            count=len(transactions),
            amount=sum(t.amount for t in transactions),
            fee=sum(t.fee for t in transactions),
            net=sum(t.net for t in transactions),
        )


@dataclass(frozen=True)
class Settlement:
    """One merchant's settlement in one currency for one day (`st_...`).

    It holds every balance transaction of the merchant in that currency that became
    available by `cutoff` (00:00 UTC of `day`) and was not in an earlier settlement:
    the captures that came due (released from pending to available), and the refunds,
    disputes, fees, adjustments and payouts since the previous cutoff.
    """

    id: str
    merchant_id: str
    currency: str
    day: date
    cutoff: datetime
    created: datetime
    status: SettlementStatus = SettlementStatus.PENDING
    completed_at: datetime | None = None
    totals: SettlementTotals = field(default_factory=SettlementTotals)
    # Net of the captures that came due, moved from pending to available (at most what
    # pending held: refunds and disputes may have used some of it already).
    released: int = 0
    fees_swept: int = 0  # moved from the merchant's fees sub-ledger to platform revenue
    automatic_payout: AutomaticPayout = AutomaticPayout.NOT_DUE
    payout_id: str = ""
    # Test and live money settle apart: one settlement per (merchant, currency, day, mode).
    livemode: bool = False

    def completed(
        self,
        transactions: list[BalanceTransaction],
        *,
        released: int,
        fees_swept: int,
        at: datetime,
    ) -> Settlement:
        if self.status is not SettlementStatus.PENDING:
            raise FailedPrecondition(f"Settlement {self.id} is {self.status.value}.")
        return replace(
            self,
            status=SettlementStatus.COMPLETED,
            completed_at=at,
            totals=SettlementTotals.of(transactions),
            released=released,
            fees_swept=fees_swept,
            automatic_payout=AutomaticPayout.DUE,
        )

    @staticmethod
    def to_release(due: list[DueTransaction]) -> int:
        """What the settlement moves from pending to available: what its lines left in
        pending (captures credited it; refunds and disputes may have taken from it), so
        that afterwards pending holds exactly the part of the unsettled transactions.
        Never negative: a settlement of refunds paid from later captures' pending moves
        nothing back (the later settlements then release at most what pending holds)."""
        return max(0, sum(d.pending for d in due))


# --- payouts -------------------------------------------------------------------------


class PayoutStatus(StrEnum):
    IN_TRANSIT = "IN_TRANSIT"  # debited from available, sent to the bank
    PAID = "PAID"  # the arrival date has passed
    FAILED = "FAILED"  # returned by the bank; the funds are back (PAYOUT_FAILED entry)


class PayoutMethod(StrEnum):
    MANUAL = "MANUAL"  # POST /v1/payouts
    AUTOMATIC = "AUTOMATIC"  # the daily batch after a settlement


# A payout arrives at the merchant's bank at 00:00 UTC this many days after it was sent.
PAYOUT_ARRIVAL_DAYS = 1


@dataclass(frozen=True)
class Payout:
    id: str  # po_...
    merchant_id: str
    amount: int  # minor units of currency, positive
    currency: str
    status: PayoutStatus
    method: PayoutMethod
    created: datetime
    arrival_date: datetime
    balance_transaction_id: str  # the PAYOUT entry
    settlement_id: str = ""  # the settlement an automatic payout followed
    description: str = ""
    # Paid from the book of this mode only. A test payout goes to a simulated bank: it
    # runs the same states, and no money leaves the platform.
    livemode: bool = False

    @staticmethod
    def arrival_for(created: datetime) -> datetime:
        return midnight(created.astimezone(UTC).date() + timedelta(days=PAYOUT_ARRIVAL_DAYS))


# --- disputes ------------------------------------------------------------------------


class DisputeStatus(StrEnum):
    NEEDS_RESPONSE = "NEEDS_RESPONSE"  # opened; evidence may be submitted until due
    UNDER_REVIEW = "UNDER_REVIEW"  # evidence submitted; the network decides
    WON = "WON"  # funds returned to the merchant
    LOST = "LOST"  # funds paid to the cardholder (the chargeback)


OPEN_DISPUTE_STATUSES = frozenset({DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW})


class DisputeOutcome(StrEnum):
    WON = "WON"
    LOST = "LOST"


EVIDENCE_FIELDS = (
    "product_description",
    "customer_communication",
    "receipt",
    "shipping_documentation",
    "uncategorized_text",
)
MAX_EVIDENCE_CHARS = 20_000


@dataclass(frozen=True)
class DisputeEvidence:
    """What the merchant answers a dispute with (free text per field, as Stripe's
    evidence object; files are out of scope)."""

    product_description: str = ""
    customer_communication: str = ""
    receipt: str = ""
    shipping_documentation: str = ""
    uncategorized_text: str = ""

    @property
    def empty(self) -> bool:
        return not any(getattr(self, name) for name in EVIDENCE_FIELDS)

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in EVIDENCE_FIELDS if getattr(self, name)}


@dataclass(frozen=True)
class Dispute:
    id: str  # dp_...
    merchant_id: str
    payment_intent_id: str
    amount: int  # minor units of the charge currency
    currency: str
    reason: str  # the network's reason: fraudulent, duplicate, ...
    status: DisputeStatus
    created: datetime  # when the network opened it
    evidence_due_by: datetime
    decide_at: datetime  # when the network decides (due date, or review after evidence)
    acquirer_reference: str  # the network's dispute id; unique
    capture_reference: str = ""
    evidence: DisputeEvidence | None = None
    evidence_submitted_at: datetime | None = None
    closed_at: datetime | None = None
    # The DISPUTE balance transactions: the withdrawal at opening, and the reinstatement
    # when won. A lost dispute has no second one: the money left at opening.
    balance_transactions: tuple[str, ...] = ()
    livemode: bool = False  # the disputed payment's mode

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_DISPUTE_STATUSES

    def with_evidence(
        self, evidence: DisputeEvidence, *, at: datetime, review: timedelta
    ) -> Dispute:
        if self.status is not DisputeStatus.NEEDS_RESPONSE:
            raise FailedPrecondition(
                f"Dispute {self.id} is {self.status.value}: evidence can no longer be submitted.",
                reason="DISPUTE_NOT_ACCEPTING_EVIDENCE",
                metadata={"status": self.status.value},
            )
        if at > self.evidence_due_by:
            raise FailedPrecondition(
                f"The evidence for dispute {self.id} was due by "
                f"{self.evidence_due_by.isoformat()}.",
                reason="DISPUTE_EVIDENCE_PAST_DUE",
            )
        return replace(
            self,
            status=DisputeStatus.UNDER_REVIEW,
            evidence=evidence,
            evidence_submitted_at=at,
            decide_at=at + review,
        )

    def closed(self, outcome: DisputeOutcome, *, at: datetime, transaction_id: str) -> Dispute:
        if not self.is_open:
            raise FailedPrecondition(f"Dispute {self.id} is closed ({self.status.value}).")
        ids = self.balance_transactions + ((transaction_id,) if transaction_id else ())
        return replace(
            self, status=DisputeStatus(outcome.value), closed_at=at, balance_transactions=ids
        )
