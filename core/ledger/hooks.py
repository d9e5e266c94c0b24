"""What the payment use-cases call to post money movements, inside their own transaction.

A payment use-case that changes money (capture, refund, dispute) calls one of these with
its unit of work, between its own writes and `commit()`, so the entry is committed with
the state change or not at all:

    async with self._uow() as uow:
        intent = await uow.payment_intents.get(merchant_id, intent_id, for_update=True)
        ...                                  # the intent moves to SUCCEEDED
        await uow.payment_intents.update(intent)
        await self._ledger.on_capture(
            uow, intent.merchant_id, intent.id, amount, intent.currency, "card",
            captured_at, capture_reference=capture.reference,
        )
        await uow.commit()

Every hook raises a core error (and writes nothing) when the movement is refused: a
refund larger than what is left (AMOUNT_TOO_LARGE), or than the merchant's funds
(BALANCE_INSUFFICIENT), no usable exchange rate (FX_RATE_UNAVAILABLE). The caller lets the
error roll its transaction back. Captures never take the merchant's debit lock (see
docs/ledger.md, "Balances without a hot row"); the other hooks do.
"""

from __future__ import annotations

from datetime import datetime

from core.ledger.model import JournalEntry
from core.ledger.ports import LedgerScope
from core.ledger.terms_cache import NoTermsCache, TermsCache
from core.ledger.use_cases import Bookkeeper
from core.shared.errors import InvalidArgument
from core.shared.money import MAX_AMOUNT, Money, UnknownCurrency, normalize_currency
from core.shared.ports import IdGenerator

__all__ = ["FixedClock", "LedgerHooks"]


class FixedClock:
    """A clock that says `at`: the time of the event a hook posts."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("event times are timezone-aware")
        self._at = at

    def now(self) -> datetime:
        return self._at


def _money(amount: int, currency: str) -> Money:
    try:
        code = normalize_currency(currency)
    except UnknownCurrency:
        raise InvalidArgument.field("currency", f"{currency[:8]!r} is not supported") from None
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
        raise InvalidArgument.field("amount", f"must be an int between 1 and {MAX_AMOUNT}")
    return Money(amount, code)


class LedgerHooks:
    """Built once by the composition root and handed to the payment use-cases."""

    def __init__(self, ids: IdGenerator, terms: TermsCache | NoTermsCache | None = None) -> None:
        self._ids = ids
        # Captures and refunds price with terms kept for a bounded time (terms_cache.py).
        self._terms = terms or NoTermsCache()

    def _keeper(self, uow: LedgerScope, at: datetime) -> Bookkeeper:
        return Bookkeeper(uow.fx_rates, self._ids, FixedClock(at))

    async def on_capture(
        self,
        uow: LedgerScope,
        merchant_id: str,
        payment_intent_id: str,
        amount: int,
        currency: str,
        method: str,
        captured_at: datetime,
        *,
        capture_reference: str,
        livemode: bool = False,
    ) -> JournalEntry:
        """A capture succeeded at the acquirer: its net goes to pending (available T+n),
        its fee to the merchant's fees. `method` is the payment method type (card, upi)
        that prices it; `capture_reference` the CaptureRequest.capture_reference sent to
        the acquirer, which disputes and the acquirer's settlement file refer to;
        `livemode` the intent's mode: the book the charge, its refunds and its disputes
        are posted in."""
        if not capture_reference:
            raise ValueError("capture_reference is what disputes and reconciliation match on")
        terms = await self._terms.get(uow, merchant_id)
        return await self._keeper(uow, captured_at).capture(
            uow.ledger,
            terms,
            merchant_id=merchant_id,
            payment_intent_id=payment_intent_id,
            amount=_money(amount, currency),
            payment_method=method,
            reference=capture_reference,
            livemode=livemode,
        )

    async def on_refund(
        self,
        uow: LedgerScope,
        merchant_id: str,
        payment_intent_id: str,
        refund_id: str,
        amount: int,
        currency: str,
        refunded_at: datetime,
    ) -> JournalEntry:
        """A refund is sent (`refund_id` is the re_... id, also its reference at the
        acquirer): the merchant's funds pay it, owed to the cardholder until the acquirer
        confirms it (on_refund_succeeded / on_refund_failed)."""
        terms = await self._terms.get(uow, merchant_id)
        return await self._keeper(uow, refunded_at).refund(
            uow.ledger,
            terms,
            merchant_id=merchant_id,
            payment_intent_id=payment_intent_id,
            refund_id=refund_id,
            amount=_money(amount, currency),
        )

    async def on_refund_succeeded(
        self, uow: LedgerScope, merchant_id: str, refund_id: str, at: datetime
    ) -> JournalEntry:
        """The acquirer paid the refund. Repeating it returns the entry already written."""
        return await self._keeper(uow, at).refund_outcome(
            uow.ledger, merchant_id=merchant_id, refund_id=refund_id, succeeded=True
        )

    async def on_refund_failed(
        self, uow: LedgerScope, merchant_id: str, refund_id: str, at: datetime
    ) -> JournalEntry:
        """The refund bounced: the merchant gets the money back."""
        return await self._keeper(uow, at).refund_outcome(
            uow.ledger, merchant_id=merchant_id, refund_id=refund_id, succeeded=False
        )

    async def on_dispute_opened(
        self,
        uow: LedgerScope,
        merchant_id: str,
        payment_intent_id: str,
        dispute_id: str,
        amount: int,
        currency: str,
        opened_at: datetime,
    ) -> JournalEntry:
        """The network opened a dispute: the amount and the dispute fee leave the
        merchant's funds (owed as a receivable when they are short) and the amount is held
        in the merchant's disputes account until it is won or lost."""
        terms = await uow.merchant_terms.get(merchant_id)
        return await self._keeper(uow, opened_at).dispute_opened(
            uow.ledger,
            terms,
            merchant_id=merchant_id,
            payment_intent_id=payment_intent_id,
            dispute_id=dispute_id,
            amount=_money(amount, currency),
        )

    async def on_dispute_won(
        self, uow: LedgerScope, merchant_id: str, dispute_id: str, at: datetime
    ) -> JournalEntry:
        """The merchant won: the held amount comes back at the opening rate."""
        terms = await uow.merchant_terms.get(merchant_id)
        return await self._keeper(uow, at).dispute_closed(
            uow.ledger, terms, merchant_id=merchant_id, dispute_id=dispute_id, won=True
        )

    async def on_dispute_lost(
        self, uow: LedgerScope, merchant_id: str, dispute_id: str, at: datetime
    ) -> JournalEntry:
        """The merchant lost: the held amount goes to the acquirer (the chargeback)."""
        terms = await uow.merchant_terms.get(merchant_id)
        return await self._keeper(uow, at).dispute_closed(
            uow.ledger, terms, merchant_id=merchant_id, dispute_id=dispute_id, won=False
        )
