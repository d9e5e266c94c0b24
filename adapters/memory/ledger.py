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
from dataclasses import dataclass, field
from datetime import datetime

from core.ledger.accounts import Account
from core.ledger.fx import FxRate, RateTable
from core.ledger.model import (
    BalanceTransaction,
    BalanceTransactionType,
    JournalEntry,
    MerchantTerms,
)
from core.ledger.projections import balance_transaction
from core.shared.errors import AlreadyExists


@dataclass
class LedgerTables:
    entries: dict[str, JournalEntry] = field(default_factory=dict)  # insertion ordered
    balances: dict[Account, int] = field(default_factory=dict)
    transactions: dict[str, BalanceTransaction] = field(default_factory=dict)


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

    def merchant_accounts(self, merchant_id: str) -> dict[Account, int]:
        return {a: v for a, v in self.tables.balances.items() if a.merchant_id == merchant_id}

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

    def balance_transactions(
        self,
        merchant_id: str,
        *,
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

    async def lock_funds(self, merchant_id: str, currency: str) -> None:
        return None

    async def balances(self, accounts: Sequence[Account]) -> dict[Account, int]:
        return self.book.balances(accounts)

    async def merchant_accounts(self, merchant_id: str) -> dict[Account, int]:
        return self.book.merchant_accounts(merchant_id)

    async def get(self, merchant_id: str, entry_id: str) -> JournalEntry | None:
        return self.book.get(merchant_id, entry_id)

    async def entries_for_payment(
        self, merchant_id: str, payment_intent_id: str
    ) -> Sequence[JournalEntry]:
        return self.book.entries_for_payment(merchant_id, payment_intent_id)

    async def entries_for_source(self, merchant_id: str, source: str) -> Sequence[JournalEntry]:
        return self.book.entries_for_source(merchant_id, source)

    async def balance_transaction(
        self, merchant_id: str, transaction_id: str
    ) -> BalanceTransaction | None:
        found = self.book.tables.transactions.get(transaction_id)
        return found if found is not None and found.merchant_id == merchant_id else None

    async def balance_transactions(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        type: BalanceTransactionType | None = None,
        source: str | None = None,
    ) -> Sequence[BalanceTransaction]:
        return self.book.balance_transactions(
            merchant_id, limit=limit, starting_after=starting_after, type=type, source=source
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
