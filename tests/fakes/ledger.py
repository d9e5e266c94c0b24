"""In-memory ledger: the fake core tests run against, and the embedded mode's ledger.

`LedgerBook` is the synchronous book (append, balances, queries) over `LedgerTables`, a
plain dataclass a memory unit of work can deep-copy and swap in on commit like its other
tables. `MemoryLedgerRepository` is the async LedgerRepository port over a book.

Balances are kept as running raw sums per account, updated on append: the stand-in for
the SQL adapter's checkpoint + recent postings. `recomputed_balances()` sums every posting
again, so tests can check that the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TypeVar

from core.ledger.accounts import Account, AccountKind
from core.ledger.fx import FxRate, RateTable
from core.ledger.model import (
    BalanceTransaction,
    BalanceTransactionType,
    JournalEntry,
    MerchantTerms,
)
from core.ledger.projections import balance_transaction
from core.ledger.records import (
    OPEN_DISPUTE_STATUSES,
    AutomaticPayout,
    Dispute,
    DisputeEvidence,
    DueTransaction,
    Payout,
    PayoutStatus,
    Settlement,
    SettlementStatus,
)
from core.shared.errors import AlreadyExists, FailedPrecondition

_T = TypeVar("_T", Settlement, Payout, Dispute)


@dataclass
class LedgerTables:
    entries: dict[str, JournalEntry] = field(default_factory=dict)  # insertion ordered
    balances: dict[Account, int] = field(default_factory=dict)
    transactions: dict[str, BalanceTransaction] = field(default_factory=dict)
    # Balance transactions no settlement holds yet (the SQL adapter's ledger_unsettled).
    unsettled: dict[str, BalanceTransaction] = field(default_factory=dict)
    # The records around the entries, for the memory unit of work.
    fx_rates: list[FxRate] = field(default_factory=list)
    merchant_terms: dict[str, MerchantTerms] = field(default_factory=dict)
    settlements: dict[str, Settlement] = field(default_factory=dict)
    settlement_lines: dict[str, list[BalanceTransaction]] = field(default_factory=dict)
    payouts: dict[str, Payout] = field(default_factory=dict)
    disputes: dict[str, Dispute] = field(default_factory=dict)
    evidence: list[tuple[str, DisputeEvidence, datetime]] = field(default_factory=list)


class LedgerBook:
    def __init__(self, tables: LedgerTables | None = None) -> None:
        self.tables = tables if tables is not None else LedgerTables()

    def append(self, entry: JournalEntry) -> None:
        t = self.tables
        if entry.id in t.entries:
            raise AlreadyExists(f"Journal entry {entry.id} exists.", reason="ENTRY_EXISTS")
        transaction = balance_transaction(entry)  # raises before anything is written
        t.entries[entry.id] = entry
        for posting in entry.postings:
            t.balances[posting.account] = t.balances.get(posting.account, 0) + posting.amount
        if transaction is not None:
            t.transactions[transaction.id] = transaction
            t.unsettled[transaction.id] = transaction

    @property
    def entries(self) -> Sequence[JournalEntry]:
        return list(self.tables.entries.values())

    def balance(self, account: Account) -> int:
        return self.tables.balances.get(account, 0)

    def balances(self, accounts: Iterable[Account]) -> dict[Account, int]:
        return {account: self.balance(account) for account in accounts}

    def all_balances(self) -> Mapping[Account, int]:
        return dict(self.tables.balances)

    def recomputed_balances(self) -> dict[Account, int]:
        sums: dict[Account, int] = {}
        for entry in self.tables.entries.values():
            for posting in entry.postings:
                sums[posting.account] = sums.get(posting.account, 0) + posting.amount
        return sums

    def merchant_accounts(self, merchant_id: str, livemode: bool = False) -> dict[Account, int]:
        return {
            a: v
            for a, v in self.tables.balances.items()
            if a.merchant_id == merchant_id and a.livemode == livemode
        }

    def get(self, merchant_id: str, entry_id: str) -> JournalEntry | None:
        entry = self.tables.entries.get(entry_id)
        return entry if entry is not None and entry.merchant_id == merchant_id else None

    def entries_for_payment(self, merchant_id: str, payment_intent_id: str) -> list[JournalEntry]:
        return [
            e
            for e in self.tables.entries.values()
            if e.merchant_id == merchant_id and e.payment_intent_id == payment_intent_id
        ]

    def entries_for_source(self, merchant_id: str, source: str) -> list[JournalEntry]:
        return [
            e
            for e in self.tables.entries.values()
            if e.merchant_id == merchant_id and e.source == source
        ]

    def entries_for_reference(self, merchant_id: str, reference: str) -> list[JournalEntry]:
        return [
            e
            for e in self.tables.entries.values()
            if e.merchant_id == merchant_id and reference and e.reference == reference
        ]

    def balance_transactions(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int | None = None,
        starting_after: str | None = None,
        type: BalanceTransactionType | None = None,
        source: str | None = None,
    ) -> list[BalanceTransaction]:
        rows = sorted(
            (
                t
                for t in self.tables.transactions.values()
                if t.merchant_id == merchant_id
                and t.livemode == livemode
                and (type is None or t.type is type)
                and (source is None or t.source == source)
                and (starting_after is None or t.id < starting_after)
            ),
            key=lambda t: t.id,
            reverse=True,
        )
        return rows if limit is None else rows[:limit]


class MemoryLedgerRepository:
    """LedgerRepository over a LedgerBook. `lock_funds` does nothing: the memory unit of
    work already runs one transaction at a time."""

    def __init__(self, book: LedgerBook | LedgerTables | None = None) -> None:
        self.book = book if isinstance(book, LedgerBook) else LedgerBook(book)

    async def append(self, entry: JournalEntry) -> None:
        self.book.append(entry)

    async def lock_funds(self, merchant_id: str, currency: str, livemode: bool = False) -> None:
        return None

    async def balances(self, accounts: Sequence[Account]) -> dict[Account, int]:
        return self.book.balances(accounts)

    async def merchant_accounts(
        self, merchant_id: str, livemode: bool = False
    ) -> dict[Account, int]:
        return self.book.merchant_accounts(merchant_id, livemode)

    async def get(self, merchant_id: str, entry_id: str) -> JournalEntry | None:
        return self.book.get(merchant_id, entry_id)

    async def entries_for_payment(
        self, merchant_id: str, payment_intent_id: str
    ) -> Sequence[JournalEntry]:
        return self.book.entries_for_payment(merchant_id, payment_intent_id)

    async def entries_for_source(self, merchant_id: str, source: str) -> Sequence[JournalEntry]:
        return self.book.entries_for_source(merchant_id, source)

    async def entries_for_reference(
        self, merchant_id: str, reference: str
    ) -> Sequence[JournalEntry]:
        return self.book.entries_for_reference(merchant_id, reference)

    async def balance_transaction(
        self, merchant_id: str, transaction_id: str
    ) -> BalanceTransaction | None:
        found = self.book.tables.transactions.get(transaction_id)
        return found if found is not None and found.merchant_id == merchant_id else None

    async def balance_transactions(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int,
        starting_after: str | None = None,
        type: BalanceTransactionType | None = None,
        source: str | None = None,
    ) -> Sequence[BalanceTransaction]:
        return self.book.balance_transactions(
            merchant_id,
            livemode=livemode,
            limit=limit,
            starting_after=starting_after,
            type=type,
            source=source,
        )


class MemoryFxRates:
    """FxRates over a RateTable held in memory (the file adapter will parse one)."""

    def __init__(self, rates: Iterable[FxRate] | RateTable) -> None:
        self.table = rates if isinstance(rates, RateTable) else RateTable(rates)

    async def rate(self, base: str, quote: str, *, at: datetime) -> FxRate:
        return self.table.rate(base, quote, at=at)


class MemoryMerchantTerms:
    def __init__(self, terms: Mapping[str, MerchantTerms] | None = None) -> None:
        self.terms = dict(terms or {})

    async def get(self, merchant_id: str) -> MerchantTerms:
        return self.terms.get(merchant_id, MerchantTerms())


class MemoryFxRateStore:
    """FxRateStore over a list of rates (LedgerTables.fx_rates)."""

    def __init__(self, rates: list[FxRate], *, max_age: timedelta | None = None) -> None:
        self._rates = rates
        self._max_age = max_age

    async def rate(self, base: str, quote: str, *, at: datetime) -> FxRate:
        return RateTable(self._rates, max_age=self._max_age).rate(base, quote, at=at)

    async def add(self, rates: Sequence[FxRate]) -> int:
        known = {(r.base, r.quote, r.as_of): r for r in self._rates}
        new = []
        for rate in rates:
            stored = known.get((rate.base, rate.quote, rate.as_of))
            if stored is None:
                known[(rate.base, rate.quote, rate.as_of)] = rate
                new.append(rate)
            elif stored.rate != rate.rate:
                raise _rate_conflict(stored, rate)
        self._rates.extend(new)
        return len(new)


def _rate_conflict(stored: FxRate, rate: FxRate) -> FailedPrecondition:
    return FailedPrecondition(
        f"{rate.base}->{rate.quote} as of {rate.as_of.isoformat()} is stored as {stored.rate}, "
        f"not {rate.rate}: publish a correction with a new as_of.",
        reason="FX_RATE_CONFLICT",
    )


class MemoryMerchantTermsStore:
    """MerchantTermsRepository over LedgerTables.merchant_terms."""

    def __init__(self, terms: dict[str, MerchantTerms]) -> None:
        self._terms = terms

    async def get(self, merchant_id: str) -> MerchantTerms:
        return self._terms.get(merchant_id, MerchantTerms())

    async def put(self, merchant_id: str, terms: MerchantTerms) -> None:
        self._terms[merchant_id] = terms


def _newest_first(rows: Iterable[_T], limit: int, starting_after: str | None) -> list[_T]:
    ordered = sorted(rows, key=lambda r: r.id, reverse=True)
    return [r for r in ordered if starting_after is None or r.id < starting_after][:limit]


class MemorySettlements:
    def __init__(self, tables: LedgerTables) -> None:
        self._t = tables

    async def due_accounts(self, cutoff: datetime) -> Sequence[tuple[str, str, bool]]:
        return sorted(
            {
                (t.merchant_id, t.currency, t.livemode)
                for t in self._t.unsettled.values()
                if t.available_on <= cutoff
            }
        )

    async def add(self, settlement: Settlement) -> bool:
        for other in self._t.settlements.values():
            if (other.merchant_id, other.currency, other.day, other.livemode) == (
                settlement.merchant_id,
                settlement.currency,
                settlement.day,
                settlement.livemode,
            ):
                return False
        if settlement.id in self._t.settlements:
            raise AlreadyExists(f"Settlement {settlement.id} exists.")
        self._t.settlements[settlement.id] = settlement
        return True

    async def claim(self, day: date) -> Settlement | None:
        pending = [
            s
            for s in self._t.settlements.values()
            if s.day == day and s.status is SettlementStatus.PENDING
        ]
        return min(pending, key=lambda s: s.id, default=None)

    async def take_due(
        self, merchant_id: str, currency: str, cutoff: datetime, livemode: bool = False
    ) -> Sequence[DueTransaction]:
        due = sorted(
            (
                t
                for t in self._t.unsettled.values()
                if t.merchant_id == merchant_id
                and t.currency == currency
                and t.livemode == livemode
                and t.available_on <= cutoff
            ),
            key=lambda t: t.id,
        )
        pending = Account.merchant(merchant_id, AccountKind.PENDING, currency, livemode)
        for transaction in due:
            del self._t.unsettled[transaction.id]
        return [
            DueTransaction(t, pending.normal_balance(self._t.entries[t.id].raw(pending)))
            for t in due
        ]

    async def complete(self, settlement: Settlement, lines: Sequence[BalanceTransaction]) -> None:
        self._t.settlements[settlement.id] = settlement
        self._t.settlement_lines[settlement.id] = sorted(lines, key=lambda t: t.id)

    async def get(self, merchant_id: str, settlement_id: str) -> Settlement | None:
        found = self._t.settlements.get(settlement_id)
        return found if found is not None and found.merchant_id == merchant_id else None

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int,
        starting_after: str | None = None,
    ) -> Sequence[Settlement]:
        mine = (
            s
            for s in self._t.settlements.values()
            if s.merchant_id == merchant_id and s.livemode == livemode
        )
        return _newest_first(mine, limit, starting_after)

    async def lines(self, merchant_id: str, settlement_id: str) -> Sequence[BalanceTransaction]:
        if await self.get(merchant_id, settlement_id) is None:
            return []
        return list(self._t.settlement_lines.get(settlement_id, []))

    async def claim_payout(self) -> Settlement | None:
        due = [
            s
            for s in self._t.settlements.values()
            if s.status is SettlementStatus.COMPLETED and s.automatic_payout is AutomaticPayout.DUE
        ]
        return min(due, key=lambda s: s.id, default=None)

    async def set_payout(
        self, settlement_id: str, state: AutomaticPayout, payout_id: str = ""
    ) -> None:
        stored = self._t.settlements[settlement_id]
        self._t.settlements[settlement_id] = replace(
            stored, automatic_payout=state, payout_id=payout_id
        )


class MemoryPayouts:
    def __init__(self, tables: LedgerTables) -> None:
        self._t = tables

    async def add(self, payout: Payout) -> None:
        if payout.id in self._t.payouts:
            raise AlreadyExists(f"Payout {payout.id} exists.")
        self._t.payouts[payout.id] = payout

    async def get(self, merchant_id: str, payout_id: str) -> Payout | None:
        found = self._t.payouts.get(payout_id)
        return found if found is not None and found.merchant_id == merchant_id else None

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int,
        starting_after: str | None = None,
        status: PayoutStatus | None = None,
    ) -> Sequence[Payout]:
        mine = (
            p
            for p in self._t.payouts.values()
            if p.merchant_id == merchant_id
            and p.livemode == livemode
            and (status is None or p.status is status)
        )
        return _newest_first(mine, limit, starting_after)

    async def mark_arrived(self, now: datetime) -> Sequence[Payout]:
        arrived = [
            p
            for p in self._t.payouts.values()
            if p.status is PayoutStatus.IN_TRANSIT and p.arrival_date <= now
        ]
        paid = [replace(payout, status=PayoutStatus.PAID) for payout in arrived]
        for payout in paid:
            self._t.payouts[payout.id] = payout
        return paid


class MemoryDisputes:
    def __init__(self, tables: LedgerTables) -> None:
        self._t = tables

    async def add(self, dispute: Dispute) -> bool:
        if any(
            d.acquirer_reference == dispute.acquirer_reference for d in self._t.disputes.values()
        ):
            return False
        if dispute.id in self._t.disputes:
            raise AlreadyExists(f"Dispute {dispute.id} exists.")
        self._t.disputes[dispute.id] = dispute
        return True

    async def get(
        self, merchant_id: str, dispute_id: str, *, for_update: bool = False
    ) -> Dispute | None:
        found = self._t.disputes.get(dispute_id)
        return found if found is not None and found.merchant_id == merchant_id else None

    async def by_acquirer_reference(self, merchant_id: str, reference: str) -> Dispute | None:
        for dispute in self._t.disputes.values():
            if dispute.merchant_id == merchant_id and dispute.acquirer_reference == reference:
                return dispute
        return None

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int,
        starting_after: str | None = None,
    ) -> Sequence[Dispute]:
        mine = (
            d
            for d in self._t.disputes.values()
            if d.merchant_id == merchant_id and d.livemode == livemode
        )
        return _newest_first(mine, limit, starting_after)

    async def update(self, dispute: Dispute) -> None:
        stored = self._t.disputes.get(dispute.id)
        if stored is None:
            raise LookupError(dispute.id)
        self._t.disputes[dispute.id] = replace(
            stored,
            status=dispute.status,
            decide_at=dispute.decide_at,
            evidence=dispute.evidence,
            evidence_submitted_at=dispute.evidence_submitted_at,
            closed_at=dispute.closed_at,
            balance_transactions=dispute.balance_transactions,
        )

    async def add_evidence(
        self, merchant_id: str, dispute_id: str, evidence: DisputeEvidence, at: datetime
    ) -> None:
        self._t.evidence.append((dispute_id, evidence, at))

    async def claim_due(self, now: datetime) -> Dispute | None:
        due = [
            d
            for d in self._t.disputes.values()
            if d.status in OPEN_DISPUTE_STATUSES and d.decide_at <= now
        ]
        return min(due, key=lambda d: (d.decide_at, d.id), default=None)
