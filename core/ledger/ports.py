"""What the ledger needs from the outside world.

The SQL adapter implements LedgerRepository on append-only tables (docs/ledger.md,
"Balances without a hot row"): entries and postings are inserted, never updated; a balance
is the sum of an account's postings, served from a checkpoint plus the postings after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from core.ledger.accounts import Account
from core.ledger.fx import FxRate
from core.ledger.model import (
    BalanceTransaction,
    BalanceTransactionType,
    JournalEntry,
    MerchantTerms,
)
from core.ledger.records import (
    AutomaticPayout,
    Dispute,
    DisputeEvidence,
    DisputeOutcome,
    DueTransaction,
    Payout,
    PayoutStatus,
    Settlement,
)

__all__ = [
    "DisputeDecisions",
    "DisputeRepository",
    "FxRateStore",
    "FxRates",
    "LedgerRepository",
    "LedgerScope",
    "MerchantTermsRepository",
    "PayoutRepository",
    "SettlementRepository",
]


class LedgerRepository(Protocol):
    async def append(self, entry: JournalEntry) -> None:
        """Writes the entry, its postings and its balance transaction (projections.
        balance_transaction) in the caller's transaction, the one that also writes the
        business state change. Raises core.shared.errors.AlreadyExists for a known id."""
        ...

    async def lock_funds(self, merchant_id: str, currency: str, livemode: bool = False) -> None:
        """Serializes debits of one merchant's funds in one currency and mode until the
        transaction ends (PostgreSQL: pg_advisory_xact_lock on a hash of merchant, currency
        and mode).

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

    async def merchant_accounts(
        self, merchant_id: str, livemode: bool = False
    ) -> dict[Account, int]:
        """Raw balances of every account of the merchant in that mode that has postings."""
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

    async def entries_for_reference(
        self, merchant_id: str, reference: str
    ) -> Sequence[JournalEntry]:
        """Every entry carrying that acquirer reference (a capture's), oldest first."""
        ...

    async def balance_transaction(
        self, merchant_id: str, transaction_id: str
    ) -> BalanceTransaction | None: ...

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
        """Up to `limit` of one mode, newest first, older than `starting_after` when given."""
        ...


class FxRates(Protocol):
    async def rate(self, base: str, quote: str, *, at: datetime) -> FxRate:
        """The rate to convert base into quote at `at`, or raises
        core.ledger.errors.FxRateUnavailable. Never asked for a same-currency rate."""
        ...


class FxRateStore(FxRates, Protocol):
    async def add(self, rates: Sequence[FxRate]) -> int:
        """Stores rates (`paygate fx load`); returns how many were new. A rate already
        stored for the same (base, quote, as_of) with the same value is skipped; with
        another value it is a FailedPrecondition (FX_RATE_CONFLICT): rates are history,
        a correction is a new as_of."""
        ...


class MerchantTermsRepository(Protocol):
    async def get(self, merchant_id: str) -> MerchantTerms:
        """The merchant's settlement currency, delay and pricing; defaults when none stored."""
        ...

    async def put(self, merchant_id: str, terms: MerchantTerms) -> None: ...


class LedgerScope(Protocol):
    """The ledger's repositories in a unit of work (core/unit_of_work.py). The ledger
    joins the payments' transaction, so an entry commits with the state change that
    causes it (core/ledger/hooks.py) or not at all."""

    ledger: LedgerRepository
    merchant_terms: MerchantTermsRepository
    fx_rates: FxRateStore
    settlements: SettlementRepository
    payouts: PayoutRepository
    disputes: DisputeRepository


class SettlementRepository(Protocol):
    async def due_accounts(self, cutoff: datetime) -> Sequence[tuple[str, str, bool]]:
        """(merchant_id, currency, livemode) of every merchant book with balance
        transactions available by `cutoff` that no settlement holds yet."""
        ...

    async def add(self, settlement: Settlement) -> bool:
        """Inserts a PENDING settlement; False (and nothing written) when the merchant
        already has one for that currency, day and mode."""
        ...

    async def claim(self, day: date) -> Settlement | None:
        """A PENDING settlement of `day`, locked until the transaction ends; settlements
        other transactions hold are skipped (FOR UPDATE SKIP LOCKED), so workers share."""
        ...

    async def take_due(
        self, merchant_id: str, currency: str, cutoff: datetime, livemode: bool = False
    ) -> Sequence[DueTransaction]:
        """Removes from the unsettled queue, and returns oldest first, the merchant's
        balance transactions of one mode in `currency` available by `cutoff`, each with
        what its entry did to the merchant's pending account in that currency."""
        ...

    async def complete(self, settlement: Settlement, lines: Sequence[BalanceTransaction]) -> None:
        """Writes the lines of a completed settlement and its new state."""
        ...

    async def get(self, merchant_id: str, settlement_id: str) -> Settlement | None: ...

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int,
        starting_after: str | None = None,
    ) -> Sequence[Settlement]:
        """One mode's, newest first."""
        ...

    async def lines(self, merchant_id: str, settlement_id: str) -> Sequence[BalanceTransaction]:
        """The settlement's balance transactions, oldest first."""
        ...

    async def claim_payout(self) -> Settlement | None:
        """A COMPLETED settlement whose automatic payout is DUE, locked, SKIP LOCKED."""
        ...

    async def set_payout(
        self, settlement_id: str, state: AutomaticPayout, payout_id: str = ""
    ) -> None: ...


class PayoutRepository(Protocol):
    async def add(self, payout: Payout) -> None: ...

    async def get(self, merchant_id: str, payout_id: str) -> Payout | None: ...

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int,
        starting_after: str | None = None,
        status: PayoutStatus | None = None,
    ) -> Sequence[Payout]:
        """One mode's, newest first."""
        ...

    async def mark_arrived(self, now: datetime) -> Sequence[Payout]:
        """IN_TRANSIT payouts whose arrival date has passed become PAID; returns them."""
        ...


class DisputeRepository(Protocol):
    async def add(self, dispute: Dispute) -> bool:
        """False (nothing written) when a dispute with that acquirer reference exists."""
        ...

    async def get(
        self, merchant_id: str, dispute_id: str, *, for_update: bool = False
    ) -> Dispute | None: ...

    async def by_acquirer_reference(self, merchant_id: str, reference: str) -> Dispute | None:
        """The dispute the network opened under that reference, if ingested."""
        ...

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int,
        starting_after: str | None = None,
    ) -> Sequence[Dispute]:
        """One mode's, newest first."""
        ...

    async def update(self, dispute: Dispute) -> None:
        """Saves status, decision time, evidence time, closing and transactions."""
        ...

    async def add_evidence(
        self, merchant_id: str, dispute_id: str, evidence: DisputeEvidence, at: datetime
    ) -> None:
        """Appends a submission (kept for audit; the dispute shows the latest)."""
        ...

    async def claim_due(self, now: datetime) -> Dispute | None:
        """An open dispute whose decide_at has passed, locked, SKIP LOCKED."""
        ...


class DisputeDecisions(Protocol):
    """The card network's verdict on a dispute (the simulator's rule: docs/ledger.md)."""

    async def outcome(self, dispute: Dispute) -> DisputeOutcome: ...
