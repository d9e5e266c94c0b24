"""Journal entries and their postings, the merchant's terms, and what entries derive to.

A JournalEntry is immutable and checked when built: at least two postings, none zero, each
account once, every merchant account the entry's merchant's, and the postings summing to
zero in every currency. Entries are appended, never changed: a correction is a new entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from core.ledger.accounts import PRESENTMENT_KINDS, Account, AccountKind
from core.ledger.errors import UnbalancedEntry
from core.ledger.fees import DEFAULT_PRICING, Pricing
from core.ledger.fx import FxRate
from core.shared.ids import has_prefix
from core.shared.money import CURRENCY_EXPONENTS, Money

__all__ = [
    "BalanceTransaction",
    "BalanceTransactionType",
    "ChargeState",
    "EntryKind",
    "JournalEntry",
    "MerchantBalance",
    "MerchantFunds",
    "MerchantTerms",
    "PayoutSchedule",
    "Posting",
    "totals_by_currency",
]


class EntryKind(StrEnum):
    CAPTURE = "CAPTURE"
    REFUND = "REFUND"
    REFUND_SUCCEEDED = "REFUND_SUCCEEDED"
    REFUND_FAILED = "REFUND_FAILED"
    DISPUTE_OPENED = "DISPUTE_OPENED"
    DISPUTE_WON = "DISPUTE_WON"
    DISPUTE_LOST = "DISPUTE_LOST"
    PAYOUT = "PAYOUT"
    PAYOUT_FAILED = "PAYOUT_FAILED"
    FEE = "FEE"
    ADJUSTMENT = "ADJUSTMENT"
    RELEASE = "RELEASE"  # pending -> available (and receivable) when captures come due
    RESERVE_HOLD = "RESERVE_HOLD"
    RESERVE_RELEASE = "RESERVE_RELEASE"
    FEE_SWEEP = "FEE_SWEEP"  # merchant FEES -> platform FEE_REVENUE


@dataclass(frozen=True, slots=True)
class Posting:
    account: Account
    amount: int  # minor units of account.currency: debit positive, credit negative

    def __post_init__(self) -> None:
        if type(self.amount) is not int or self.amount == 0:
            raise UnbalancedEntry(f"a posting is a non-zero int, got {self.amount!r}")

    @property
    def currency(self) -> str:
        return self.account.currency


def totals_by_currency(postings: Iterable[Posting]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for posting in postings:
        totals[posting.currency] += posting.amount
    return dict(totals)


@dataclass(frozen=True)
class JournalEntry:
    id: str  # txn_...: also the id of the balance transaction it derives to, if any
    kind: EntryKind
    merchant_id: str
    source: str  # the business object: pi_, re_, dp_, po_, st_ ... or an operator reference
    postings: tuple[Posting, ...]
    created: datetime
    payment_intent_id: str = ""
    # The event's amount in the charge (presentment) currency: capture, refund, dispute.
    presentment: Money | None = None
    # The rate this entry converted with, kept with it for audit and reversal.
    fx: FxRate | None = None
    # When the merchant funds this entry credits become available (captures: T+n).
    available_on: datetime | None = None
    # The entry this one continues or undoes (refund -> its outcome, dispute -> its close).
    related_entry_id: str = ""
    description: str = ""
    # The acquirer's reference of the money movement (a capture's capture reference), to
    # match disputes and the acquirer's settlement file (docs/ledger.md, reconciliation).
    reference: str = ""
    # The book it is posted in: every account it names is of this mode, so an entry
    # balances per currency within one mode and never moves money between test and live.
    livemode: bool = False

    def __post_init__(self) -> None:
        if not has_prefix(self.id, "txn"):
            raise UnbalancedEntry(f"a journal entry id is a txn_ id, got {self.id!r}")
        if self.created.tzinfo is None:
            raise UnbalancedEntry("created must be timezone-aware")
        if len(self.postings) < 2:
            raise UnbalancedEntry(f"{self.kind.value} needs at least two postings")
        seen: set[Account] = set()
        for posting in self.postings:
            if posting.account in seen:
                raise UnbalancedEntry(f"{posting.account} is posted twice")
            seen.add(posting.account)
            if posting.account.merchant_id not in ("", self.merchant_id):
                raise UnbalancedEntry(f"{posting.account} is not {self.merchant_id}'s")
            if posting.account.livemode != self.livemode:
                raise UnbalancedEntry(f"{posting.account} is not in the entry's mode")
        unbalanced = {c: t for c, t in totals_by_currency(self.postings).items() if t != 0}
        if unbalanced:
            raise UnbalancedEntry(f"{self.kind.value} {self.id} does not balance: {unbalanced}")

    @property
    def settlement_currency(self) -> str:
        """The currency this entry moves merchant funds in (for the entries that do)."""
        if self.fx is not None:
            return self.fx.quote
        for posting in self.postings:
            if posting.account.merchant_id and posting.account.kind not in PRESENTMENT_KINDS:
                return posting.currency
        if self.presentment is not None:
            return self.presentment.currency
        return self.postings[0].currency

    def raw(self, account: Account) -> int:
        """This entry's posting to `account` (debit positive), 0 when it has none."""
        return sum(p.amount for p in self.postings if p.account == account)


class BalanceTransactionType(StrEnum):
    CHARGE = "CHARGE"
    REFUND = "REFUND"
    FEE = "FEE"
    PAYOUT = "PAYOUT"
    DISPUTE = "DISPUTE"
    ADJUSTMENT = "ADJUSTMENT"


@dataclass(frozen=True)
class BalanceTransaction:
    """The merchant's view of one entry (API.md): amount - fee = net, net = balance change."""

    id: str
    merchant_id: str
    type: BalanceTransactionType
    amount: int
    fee: int
    net: int
    currency: str
    source: str
    available_on: datetime
    created: datetime
    exchange_rate: Decimal | None = None
    description: str = ""
    livemode: bool = False


class PayoutSchedule(StrEnum):
    DAILY = "DAILY"  # the daily batch pays out the whole available balance after settling
    MANUAL = "MANUAL"  # only POST /v1/payouts pays out


@dataclass(frozen=True)
class MerchantTerms:
    """How the ledger treats one merchant's money."""

    settlement_currency: str = "USD"
    settlement_delay_days: int = 2  # calendar days after the capture day (UTC)
    pricing: Pricing = DEFAULT_PRICING
    payout_schedule: PayoutSchedule = PayoutSchedule.DAILY
    payout_minimum: int = 1  # minor units of the settlement currency

    def __post_init__(self) -> None:
        if self.settlement_currency not in CURRENCY_EXPONENTS:
            raise ValueError(f"unknown settlement currency {self.settlement_currency!r}")
        if type(self.settlement_delay_days) is not int or self.settlement_delay_days < 0:
            raise ValueError("settlement_delay_days is a non-negative int")
        if type(self.payout_minimum) is not int or self.payout_minimum < 1:
            raise ValueError("payout_minimum is a positive int of minor units")


@dataclass(frozen=True)
class MerchantFunds:
    """A merchant's funds in one currency, normal side positive, read under the debit lock."""

    merchant_id: str
    currency: str
    available: int = 0
    pending: int = 0
    reserve: int = 0
    receivable: int = 0
    livemode: bool = False

    KINDS: ClassVar[tuple[AccountKind, ...]] = (
        AccountKind.AVAILABLE,
        AccountKind.PENDING,
        AccountKind.RESERVE,
        AccountKind.RECEIVABLE,
    )

    @classmethod
    def accounts(cls, merchant_id: str, currency: str, livemode: bool = False) -> list[Account]:
        return [Account.merchant(merchant_id, kind, currency, livemode) for kind in cls.KINDS]

    @classmethod
    def from_raw(
        cls, merchant_id: str, currency: str, raw: Mapping[Account, int], livemode: bool = False
    ) -> MerchantFunds:
        """From raw sums of postings (debit positive), missing accounts reading zero."""
        accounts = cls.accounts(merchant_id, currency, livemode)
        values = {
            kind.value: account.normal_balance(raw.get(account, 0))
            for kind, account in zip(cls.KINDS, accounts, strict=True)
        }
        return cls(merchant_id, currency, livemode=livemode, **values)

    def account(self, kind: AccountKind) -> Account:
        return Account.merchant(self.merchant_id, kind, self.currency, self.livemode)


@dataclass(frozen=True)
class ChargeState:
    """What the ledger knows of one payment's captures, refunds and disputes."""

    payment_intent_id: str
    merchant_id: str
    captured: Money  # presentment currency, gross of every capture
    fee: Money  # settlement currency: processing fees charged at capture
    refunded: int = 0  # presentment minor units of refunds not failed
    fee_refunded: int = 0  # settlement minor units of fees given back by refunds
    disputed: int = 0  # presentment minor units under an open or lost dispute
    livemode: bool = False  # the mode of the payment, so of every entry of the charge

    @property
    def refundable(self) -> int:
        return self.captured.amount - self.refunded - self.disputed

    @property
    def settlement_currency(self) -> str:
        return self.fee.currency


@dataclass(frozen=True)
class MerchantBalance:
    """GET /v1/balance: available = available - receivable (negative when the merchant owes)."""

    available: list[Money] = field(default_factory=list)
    pending: list[Money] = field(default_factory=list)
    reserved: list[Money] = field(default_factory=list)
    livemode: bool = False
