"""What the ledger needs from the outside world.

The SQL adapter implements LedgerRepository on append-only tables (docs/ledger.md,
"Balances without a hot row"): entries and postings are inserted, never updated; a balance
is the sum of an account's postings, served from a checkpoint plus the postings after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from core.ledger.accounts import Account
from core.ledger.fx import FxRate
from core.ledger.model import (
    BalanceTransaction,
    BalanceTransactionType,
    JournalEntry,
    MerchantTerms,
)

__all__ = ["FxRates", "LedgerRepository", "MerchantTermsRepository"]


class LedgerRepository(Protocol):
    async def append(self, entry: JournalEntry) -> None:
        """Writes the entry, its postings and its balance transaction (projections.
        balance_transaction) in the caller's transaction, the one that also writes the
        business state change. Raises core.shared.errors.AlreadyExists for a known id."""
        ...

    async def lock_funds(self, merchant_id: str, currency: str) -> None:
        """Serializes debits of one merchant's funds in one currency until the transaction
        ends (PostgreSQL: pg_advisory_xact_lock on a hash of merchant and currency).

        Take it before reading the balances a debit is planned from. Credits (captures)
        never take it: they can only raise a balance, so a debit that misses a concurrent
        credit errs on the safe side.
        """
        ...

    async def balances(self, accounts: Sequence[Account]) -> dict[Account, int]:
        """Raw balances (sum of postings, debit positive) as of now, this transaction's own
        appends included; an account without postings reads 0. Every account asked for is
        in the answer."""
        ...

    async def merchant_accounts(self, merchant_id: str) -> dict[Account, int]:
        """Raw balances of every account of the merchant that has postings."""
        ...

    async def get(self, merchant_id: str, entry_id: str) -> JournalEntry | None:
        """The entry if it is that merchant's."""
        ...

    async def entries_for_payment(
        self, merchant_id: str, payment_intent_id: str
    ) -> Sequence[JournalEntry]:
        """Every entry of one payment (captures, refunds, disputes), oldest first."""
        ...

    async def entries_for_source(self, merchant_id: str, source: str) -> Sequence[JournalEntry]:
        """Every entry whose source is `source` (a refund, dispute, payout ...), oldest first."""
        ...

    async def balance_transaction(
        self, merchant_id: str, transaction_id: str
    ) -> BalanceTransaction | None: ...

    async def balance_transactions(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        type: BalanceTransactionType | None = None,
        source: str | None = None,
    ) -> Sequence[BalanceTransaction]:
        """Up to `limit`, newest first, older than `starting_after` when given."""
        ...


class FxRates(Protocol):
    async def rate(self, base: str, quote: str, *, at: datetime) -> FxRate:
        """The rate to convert base into quote at `at`, or raises
        core.ledger.errors.FxRateUnavailable. Never asked for a same-currency rate."""
        ...


class MerchantTermsRepository(Protocol):
    async def get(self, merchant_id: str) -> MerchantTerms:
        """The merchant's settlement currency, delay and pricing; defaults when none stored."""
        ...
