"""Ledger use-cases: read what a movement needs, build its entry, append it.

They run inside the caller's transaction (the one that changes the payment, refund,
dispute or payout), so they take the LedgerRepository of that unit of work rather than
opening their own. Every debit of merchant funds takes the merchant's debit lock first,
then reads the balances it plans from.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from core.ledger import movements
from core.ledger.accounts import Account, AccountKind
from core.ledger.errors import FxRateUnavailable
from core.ledger.fees import fee_for
from core.ledger.fx import FxRate
from core.ledger.model import (
    BalanceTransaction,
    BalanceTransactionType,
    ChargeState,
    EntryKind,
    JournalEntry,
    MerchantBalance,
    MerchantFunds,
    MerchantTerms,
)
from core.ledger.ports import FxRates, LedgerRepository
from core.ledger.projections import charge_state, merchant_balance
from core.shared.errors import FailedPrecondition, NotFound, Violations
from core.shared.money import Money
from core.shared.pagination import Page, page_limit, unknown_cursor
from core.shared.ports import Clock, IdGenerator

__all__ = ["Bookkeeper", "get_balance", "list_balance_transactions"]


class Bookkeeper:
    def __init__(self, fx_rates: FxRates, ids: IdGenerator, clock: Clock) -> None:
        self._fx = fx_rates
        self._ids = ids
        self._clock = clock

    async def capture(
        self,
        ledger: LedgerRepository,
        terms: MerchantTerms,
        *,
        merchant_id: str,
        payment_intent_id: str,
        amount: Money,
        payment_method: str,
        reference: str = "",
        livemode: bool = False,
    ) -> JournalEntry:
        """Credits a capture's net to pending; never takes the debit lock. `reference` is
        the capture's reference at the acquirer (disputes and reconciliation match on it);
        `livemode` the payment's mode, the book the charge and all that follows it is in."""
        at = self._clock.now()
        try:
            fx = await self._rate(amount.currency, terms.settlement_currency, at)
        except FxRateUnavailable:
            # The acquirer has captured, so the books must follow. With no usable rate the
            # charge is kept in its own currency (a balance per currency) rather than
            # converted at a guessed rate; its refunds and disputes follow the charge.
            fx, terms = None, dataclasses.replace(terms, settlement_currency=amount.currency)
        entry = movements.capture(
            entry_id=self._ids.new("txn"),
            at=at,
            merchant_id=merchant_id,
            payment_intent_id=payment_intent_id,
            amount=amount,
            fee=fee_for(amount, payment_method, terms.pricing),
            terms=terms,
            fx=fx,
            reference=reference,
            livemode=livemode,
        )
        await ledger.append(entry)
        return entry

    async def refund(
        self,
        ledger: LedgerRepository,
        terms: MerchantTerms,
        *,
        merchant_id: str,
        payment_intent_id: str,
        refund_id: str,
        amount: Money,
    ) -> JournalEntry:
        charge = await self._charge(ledger, merchant_id, payment_intent_id)
        at = self._clock.now()
        entry = movements.refund(
            entry_id=self._ids.new("txn"),
            at=at,
            refund_id=refund_id,
            charge=charge,
            amount=amount,
            fx=await self._rate(amount.currency, charge.settlement_currency, at),
            funds=await self._funds(
                ledger, merchant_id, charge.settlement_currency, charge.livemode
            ),
            return_fee=terms.pricing.refund_fees,
        )
        await ledger.append(entry)
        return entry

    async def refund_outcome(
        self, ledger: LedgerRepository, *, merchant_id: str, refund_id: str, succeeded: bool
    ) -> JournalEntry:
        """Records what the acquirer did with a refund; repeating the same outcome returns
        the entry already written."""
        wanted = EntryKind.REFUND_SUCCEEDED if succeeded else EntryKind.REFUND_FAILED
        opened, closed = await self._opening_and_close(
            ledger, merchant_id, refund_id, EntryKind.REFUND, wanted, "refund"
        )
        if closed is not None:
            return closed
        if succeeded:
            entry = movements.refund_succeeded(
                entry_id=self._ids.new("txn"), at=self._clock.now(), refund=opened
            )
        else:
            currency = opened.settlement_currency
            await ledger.lock_funds(merchant_id, currency, opened.livemode)
            entry = movements.refund_failed(
                entry_id=self._ids.new("txn"),
                at=self._clock.now(),
                refund=opened,
                funds=await self._funds(ledger, merchant_id, currency, opened.livemode),
            )
        await ledger.append(entry)
        return entry

    async def dispute_opened(
        self,
        ledger: LedgerRepository,
        terms: MerchantTerms,
        *,
        merchant_id: str,
        payment_intent_id: str,
        dispute_id: str,
        amount: Money | None = None,
    ) -> JournalEntry:
        """`amount` None disputes everything not yet refunded or disputed."""
        charge = await self._charge(ledger, merchant_id, payment_intent_id)
        disputed = amount or Money(charge.refundable, charge.captured.currency)
        at = self._clock.now()
        entry = movements.dispute_opened(
            entry_id=self._ids.new("txn"),
            at=at,
            dispute_id=dispute_id,
            charge=charge,
            amount=disputed,
            dispute_fee=terms.pricing.dispute_fee_for(charge.settlement_currency),
            fx=await self._rate(disputed.currency, charge.settlement_currency, at),
            funds=await self._funds(
                ledger, merchant_id, charge.settlement_currency, charge.livemode
            ),
        )
        await ledger.append(entry)
        return entry

    async def dispute_closed(
        self,
        ledger: LedgerRepository,
        terms: MerchantTerms,
        *,
        merchant_id: str,
        dispute_id: str,
        won: bool,
    ) -> JournalEntry:
        wanted = EntryKind.DISPUTE_WON if won else EntryKind.DISPUTE_LOST
        opened, closed = await self._opening_and_close(
            ledger, merchant_id, dispute_id, EntryKind.DISPUTE_OPENED, wanted, "dispute"
        )
        if closed is not None:
            return closed
        if won:
            currency = opened.settlement_currency
            await ledger.lock_funds(merchant_id, currency, opened.livemode)
            entry = movements.dispute_won(
                entry_id=self._ids.new("txn"),
                at=self._clock.now(),
                opened=opened,
                funds=await self._funds(ledger, merchant_id, currency, opened.livemode),
                return_fee=terms.pricing.refund_dispute_fee_on_win,
            )
        else:
            entry = movements.dispute_lost(
                entry_id=self._ids.new("txn"), at=self._clock.now(), opened=opened
            )
        await ledger.append(entry)
        return entry

    async def payout(
        self,
        ledger: LedgerRepository,
        *,
        merchant_id: str,
        payout_id: str,
        currency: str,
        amount: int | None = None,
        minimum: int = 1,
        livemode: bool = False,
    ) -> JournalEntry:
        """Pays out `amount` (None: everything available in the mode's book);
        InsufficientFunds if it would take available below zero."""
        await ledger.lock_funds(merchant_id, currency, livemode)
        funds = await self._funds(ledger, merchant_id, currency, livemode)
        decision = movements.decide_payout(funds.available, amount, minimum=minimum)
        if not decision.approved:
            raise FailedPrecondition(
                f"No payout of {amount if amount is not None else 'the balance'} in "
                f"{currency}: {decision.reason}.",
                reason=decision.reason,
                metadata={"available": str(max(funds.available, 0)), "currency": currency},
            )
        entry = movements.payout(
            entry_id=self._ids.new("txn"),
            at=self._clock.now(),
            payout_id=payout_id,
            amount=Money(decision.amount, currency),
            funds=funds,
        )
        await ledger.append(entry)
        return entry

    async def payout_failed(
        self, ledger: LedgerRepository, *, merchant_id: str, payout_id: str
    ) -> JournalEntry:
        opened, closed = await self._opening_and_close(
            ledger, merchant_id, payout_id, EntryKind.PAYOUT, EntryKind.PAYOUT_FAILED, "payout"
        )
        if closed is not None:
            return closed
        currency = opened.settlement_currency
        await ledger.lock_funds(merchant_id, currency, opened.livemode)
        entry = movements.payout_failed(
            entry_id=self._ids.new("txn"),
            at=self._clock.now(),
            payout=opened,
            funds=await self._funds(ledger, merchant_id, currency, opened.livemode),
        )
        await ledger.append(entry)
        return entry

    async def fee(
        self,
        ledger: LedgerRepository,
        *,
        merchant_id: str,
        source: str,
        amount: Money,
        description: str = "",
        livemode: bool = False,
    ) -> JournalEntry:
        await ledger.lock_funds(merchant_id, amount.currency, livemode)
        entry = movements.fee(
            entry_id=self._ids.new("txn"),
            at=self._clock.now(),
            source=source,
            amount=amount,
            funds=await self._funds(ledger, merchant_id, amount.currency, livemode),
            description=description,
        )
        await ledger.append(entry)
        return entry

    async def adjustment(
        self,
        ledger: LedgerRepository,
        *,
        merchant_id: str,
        source: str,
        amount: Money,
        description: str,
        livemode: bool = False,
    ) -> JournalEntry:
        await ledger.lock_funds(merchant_id, amount.currency, livemode)
        entry = movements.adjustment(
            entry_id=self._ids.new("txn"),
            at=self._clock.now(),
            source=source,
            amount=amount,
            funds=await self._funds(ledger, merchant_id, amount.currency, livemode),
            description=description,
        )
        await ledger.append(entry)
        return entry

    async def release_pending(
        self,
        ledger: LedgerRepository,
        *,
        merchant_id: str,
        source: str,
        due: Money,
        livemode: bool = False,
    ) -> JournalEntry | None:
        """For the settlement batch: moves captures that came due to available."""
        await ledger.lock_funds(merchant_id, due.currency, livemode)
        entry = movements.release_pending(
            entry_id=self._ids.new("txn"),
            at=self._clock.now(),
            source=source,
            due=due,
            funds=await self._funds(ledger, merchant_id, due.currency, livemode),
        )
        if entry is not None:
            await ledger.append(entry)
        return entry

    async def sweep_fees(
        self,
        ledger: LedgerRepository,
        *,
        merchant_id: str,
        source: str,
        currency: str,
        livemode: bool = False,
    ) -> JournalEntry | None:
        """For the settlement batch: moves what the merchant's FEES sub-ledger holds in
        `currency` (in one mode) to that mode's platform revenue. None when it holds
        nothing."""
        fees = Account.merchant(merchant_id, AccountKind.FEES, currency, livemode)
        held = fees.normal_balance((await ledger.balances([fees]))[fees])
        if held == 0:
            return None
        entry = movements.sweep_fees(
            entry_id=self._ids.new("txn"),
            at=self._clock.now(),
            merchant_id=merchant_id,
            source=source,
            amount=Money(held, currency),
            livemode=livemode,
        )
        await ledger.append(entry)
        return entry

    async def _rate(self, base: str, quote: str, at: datetime) -> FxRate | None:
        if base == quote:
            return None
        rate = await self._fx.rate(base, quote, at=at)
        if (rate.base, rate.quote) != (base, quote):
            raise FxRateUnavailable(base, quote)
        return rate

    async def _funds(
        self, ledger: LedgerRepository, merchant_id: str, currency: str, livemode: bool
    ) -> MerchantFunds:
        raw = await ledger.balances(MerchantFunds.accounts(merchant_id, currency, livemode))
        return MerchantFunds.from_raw(merchant_id, currency, raw, livemode)

    async def _charge(
        self, ledger: LedgerRepository, merchant_id: str, payment_intent_id: str
    ) -> ChargeState:
        """The charge's state read under the debit lock of its settlement currency, so a
        concurrent refund or dispute of the same charge is counted."""
        charge = charge_state(await ledger.entries_for_payment(merchant_id, payment_intent_id))
        if charge is None:
            raise FailedPrecondition(
                f"Payment {payment_intent_id[:40]!r} has no capture to refund or dispute.",
                reason="CHARGE_NOT_CAPTURED",
            )
        await ledger.lock_funds(merchant_id, charge.settlement_currency, charge.livemode)
        locked = charge_state(await ledger.entries_for_payment(merchant_id, payment_intent_id))
        assert locked is not None
        return locked

    async def _opening_and_close(
        self,
        ledger: LedgerRepository,
        merchant_id: str,
        source: str,
        opening: EntryKind,
        wanted: EntryKind,
        noun: str,
    ) -> tuple[JournalEntry, JournalEntry | None]:
        """The entry that opened `source`, and the closing entry if it is closed already as
        `wanted` (a replay); a different close is a FailedPrecondition."""
        entries = await ledger.entries_for_source(merchant_id, source)
        opened = next((e for e in entries if e.kind is opening), None)
        if opened is None:
            raise NotFound(f"No such {noun} in the ledger: {source[:40]!r}")
        closes = [e for e in entries if e.related_entry_id == opened.id]
        if not closes:
            return opened, None
        if closes[0].kind is wanted:
            return opened, closes[0]
        raise FailedPrecondition(
            f"The {noun} {source[:40]!r} is already closed as {closes[0].kind.value}.",
            reason="LEDGER_ALREADY_CLOSED",
        )


async def get_balance(
    ledger: LedgerRepository, merchant_id: str, livemode: bool = False
) -> MerchantBalance:
    """GET /v1/balance: the book of the caller's mode only."""
    return merchant_balance(await ledger.merchant_accounts(merchant_id, livemode), livemode)


async def list_balance_transactions(
    ledger: LedgerRepository,
    merchant_id: str,
    *,
    limit: int = 0,
    starting_after: str = "",
    type: BalanceTransactionType | None = None,
    source: str = "",
    livemode: bool = False,
) -> Page[BalanceTransaction]:
    """GET /v1/balance_transactions, of the caller's mode only."""
    violations = Violations()
    limit = page_limit(limit, violations)
    violations.raise_if_any()
    if starting_after:
        cursor = await ledger.balance_transaction(merchant_id, starting_after)
        if cursor is None or cursor.livemode != livemode:
            raise unknown_cursor()
    rows = await ledger.balance_transactions(
        merchant_id,
        livemode=livemode,
        limit=limit + 1,
        starting_after=starting_after or None,
        type=type,
        source=source or None,
    )
    return Page.from_overfetch(list(rows), limit)
