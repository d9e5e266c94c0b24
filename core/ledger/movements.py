"""The postings of every business movement: pure functions from an event to a JournalEntry.

One cohesive thing, kept in one module (about 720 lines): the chart of every movement's
postings, read side by side when one changes.

Each function takes the id and time of the entry to write (from the caller's IdGenerator
and Clock), the facts of the event, and, where it reads a merchant's funds (every
movement but a capture and the platform-side ones), a MerchantFunds snapshot read under
the merchant's debit lock. It returns an entry that is balanced per currency (JournalEntry
checks it) or raises a core error; it never builds an entry that would take a
non-negative account below zero.

Merchant accounts are in the settlement currency S; the acquirer clearing, REFUNDS and
DISPUTES accounts in the charge (presentment) currency C. When C != S the value crosses
the FX book: the C leg and the S leg each balance on their own. docs/ledger.md tabulates
every movement's postings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.ledger.accounts import Account, AccountKind
from core.ledger.errors import AmountTooLarge, InsufficientFunds, NothingToReverse
from core.ledger.fees import prorated_fee
from core.ledger.fx import FxRate, convert_to
from core.ledger.model import (
    ChargeState,
    EntryKind,
    JournalEntry,
    MerchantFunds,
    MerchantTerms,
    Posting,
)
from core.shared.errors import InvalidArgument
from core.shared.money import MAX_AMOUNT, Money

__all__ = [
    "PayoutDecision",
    "adjustment",
    "available_on",
    "capture",
    "decide_payout",
    "dispute_lost",
    "dispute_opened",
    "dispute_won",
    "fee",
    "hold_reserve",
    "payout",
    "payout_failed",
    "plan_credit",
    "plan_debit",
    "refund",
    "refund_failed",
    "refund_succeeded",
    "release_pending",
    "release_reserve",
    "sweep_fees",
]

K = AccountKind


class _Book:
    """The postings of one entry in the making: repeats merge, zeros drop out."""

    def __init__(self, livemode: bool) -> None:
        self._amounts: dict[Account, int] = {}
        self.livemode = livemode

    def merchant(self, merchant_id: str, kind: AccountKind, currency: str) -> Account:
        return Account.merchant(merchant_id, kind, currency, self.livemode)

    def platform(self, kind: AccountKind, currency: str) -> Account:
        return Account.platform(kind, currency, self.livemode)

    def debit(self, account: Account, amount: int) -> None:
        self._add(account, amount, amount)

    def credit(self, account: Account, amount: int) -> None:
        self._add(account, amount, -amount)

    def _add(self, account: Account, amount: int, signed: int) -> None:
        if amount < 0:
            raise ValueError(f"a debit or credit cannot be negative: {amount} to {account}")
        self._amounts[account] = self._amounts.get(account, 0) + signed

    def through_fx(self, received: Money, paid: Money) -> None:
        """Value received in one currency leaves in another: the FX book takes both legs."""
        if received.currency == paid.currency:
            if received != paid:
                raise ValueError("a same-currency transfer cannot change the amount")
            return
        self.credit(self.platform(K.FX, received.currency), received.amount)
        self.debit(self.platform(K.FX, paid.currency), paid.amount)

    def postings(self) -> tuple[Posting, ...]:
        return tuple(Posting(a, amount) for a, amount in self._amounts.items() if amount)

    def entry(
        self,
        kind: EntryKind,
        *,
        id: str,
        merchant_id: str,
        source: str,
        created: datetime,
        **details: Any,
    ) -> JournalEntry:
        """The journal entry of these postings (JournalEntry refuses one that does not
        balance)."""
        return JournalEntry(
            id=id,
            kind=kind,
            merchant_id=merchant_id,
            source=source,
            postings=self.postings(),
            created=created,
            livemode=self.livemode,
            **details,
        )


def available_on(captured_at: datetime, delay_days: int) -> datetime:
    """Midnight UTC of the capture's UTC day plus `delay_days` calendar days (T+n).

    Business-day agnostic: weekends and bank holidays count like any other day.
    """
    day = captured_at.astimezone(UTC).date() + timedelta(days=delay_days)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def plan_debit(
    funds: MerchantFunds,
    amount: int,
    *,
    sources: tuple[AccountKind, ...] = (K.AVAILABLE, K.PENDING),
    allow_receivable: bool = False,
) -> dict[AccountKind, int]:
    """Which funds accounts pay `amount`, in the order of `sources`.

    What the sources cannot cover becomes a RECEIVABLE (the merchant's debt) when the
    debit is forced on the platform (a dispute, a fee), else raises InsufficientFunds.
    """
    if amount < 0:
        raise ValueError("a debit is not negative")
    plan: dict[AccountKind, int] = {}
    remaining = amount
    for kind in sources:
        take = min(remaining, max(_funds_balance(funds, kind), 0))
        if take:
            plan[kind] = take
            remaining -= take
    if remaining:
        if not allow_receivable:
            covered = sum(max(_funds_balance(funds, kind), 0) for kind in sources)
            raise InsufficientFunds(currency=funds.currency, needed=amount, available=covered)
        plan[K.RECEIVABLE] = remaining
    return plan


def plan_credit(funds: MerchantFunds, amount: int) -> dict[AccountKind, int]:
    """Money coming back to a merchant repays its RECEIVABLE first, then is available."""
    if amount < 0:
        raise ValueError("a credit is not negative")
    repay = min(amount, max(funds.receivable, 0))
    plan = {K.RECEIVABLE: repay, K.AVAILABLE: amount - repay}
    return {kind: value for kind, value in plan.items() if value}


def _funds_balance(funds: MerchantFunds, kind: AccountKind) -> int:
    return {
        K.AVAILABLE: funds.available,
        K.PENDING: funds.pending,
        K.RESERVE: funds.reserve,
        K.RECEIVABLE: funds.receivable,
    }[kind]


def _debit_funds(book: _Book, funds: MerchantFunds, plan: dict[AccountKind, int]) -> None:
    # A debit lowers the credit-normal funds accounts; RECEIVABLE is debit-normal, so the
    # same debit raises what the merchant owes.
    for kind, amount in plan.items():
        book.debit(funds.account(kind), amount)


def _credit_funds(book: _Book, funds: MerchantFunds, amount: int) -> None:
    for kind, value in plan_credit(funds, amount).items():
        book.credit(funds.account(kind), value)


def _require_amount(money: Money, field: str) -> None:
    if money.amount <= 0:
        raise InvalidArgument.field(field, "must be a positive integer of minor units")
    if money.amount > MAX_AMOUNT:
        raise InvalidArgument.field(field, f"must be at most {MAX_AMOUNT}")


def _require_funds(
    funds: MerchantFunds, merchant_id: str, currency: str, livemode: bool | None = None
) -> None:
    if (funds.merchant_id, funds.currency) != (merchant_id, currency) or (
        livemode is not None and funds.livemode != livemode
    ):
        raise ValueError(
            f"funds of {funds.merchant_id} in {funds.currency} given for "
            f"{merchant_id} in {currency} (livemode {livemode})"
        )


def _require_kind(entry: JournalEntry, kind: EntryKind) -> None:
    if entry.kind is not kind:
        raise NothingToReverse(f"{entry.id} is a {entry.kind.value} entry, not {kind.value}")


def _withdrawn(opened: JournalEntry) -> tuple[Money, Money, Money]:
    """Of a DISPUTE_OPENED entry: the disputed amount (C), what it cost the merchant's funds
    at the opening rate (S), and the dispute fee (S)."""
    assert opened.presentment is not None
    disputed = opened.presentment
    currency = opened.settlement_currency
    if currency == disputed.currency:
        held = disputed
    else:
        held = Money(-opened.raw(Account.platform(K.FX, currency, opened.livemode)), currency)
    fees = Account.merchant(opened.merchant_id, K.FEES, currency, opened.livemode)
    return disputed, held, Money(-opened.raw(fees), currency)


# --- payments ------------------------------------------------------------------------


def capture(
    *,
    entry_id: str,
    at: datetime,
    merchant_id: str,
    payment_intent_id: str,
    amount: Money,
    fee: Money,
    terms: MerchantTerms,
    fx: FxRate | None,
    reference: str = "",
    livemode: bool = False,
) -> JournalEntry:
    """A capture of `amount` (charge currency C) with processing `fee` (also in C).

    DR acquirer_clearing:C  amount      the acquirer owes us the gross
    [CR fx:C amount / DR fx:S gross_S]  when C != S, at `fx` (C->S)
    CR merchant pending:S   gross_S - fee_S
    CR merchant fees:S      fee_S
    Gross and fee are converted separately, each rounded half even; net = gross_S - fee_S.
    """
    _require_amount(amount, "amount")
    if fee.currency != amount.currency or not 0 <= fee.amount <= amount.amount:
        raise ValueError("the fee is in the charge currency and at most the amount")
    settlement = terms.settlement_currency
    gross_s = convert_to(amount, settlement, fx)
    fee_s = convert_to(fee, settlement, fx)
    book = _Book(livemode)
    book.debit(book.platform(K.ACQUIRER_CLEARING, amount.currency), amount.amount)
    book.through_fx(amount, gross_s)
    book.credit(book.merchant(merchant_id, K.PENDING, settlement), gross_s.amount - fee_s.amount)
    book.credit(book.merchant(merchant_id, K.FEES, settlement), fee_s.amount)
    return book.entry(
        EntryKind.CAPTURE,
        id=entry_id,
        merchant_id=merchant_id,
        source=payment_intent_id,
        created=at,
        payment_intent_id=payment_intent_id,
        presentment=amount,
        fx=fx,
        available_on=available_on(at, terms.settlement_delay_days),
        reference=reference,
    )


def refund(
    *,
    entry_id: str,
    at: datetime,
    refund_id: str,
    charge: ChargeState,
    amount: Money,
    fx: FxRate | None,
    funds: MerchantFunds,
    return_fee: bool = False,
) -> JournalEntry:
    """A refund of `amount` (charge currency C) is sent to the cardholder.

    The merchant pays it from available, then pending (never below zero: else
    InsufficientFunds), at today's rate `fx` (C->S). With `return_fee` the matching share
    of the processing fee comes back, rounded half up; the refund that empties the charge
    gets the remainder, so the shares add up to the fee exactly.

    DR merchant available/pending:S  refund_S - fee_back
    DR merchant fees:S               fee_back
    [CR fx:S refund_S / DR fx:C amount]
    CR merchant refunds:C            amount     owed to the cardholder until the acquirer
                                                confirms (refund_succeeded/refund_failed)
    """
    _require_amount(amount, "amount")
    if amount.currency != charge.captured.currency:
        raise InvalidArgument.field("currency", f"must be the charge's {charge.captured.currency}")
    if amount.amount > charge.refundable:
        raise AmountTooLarge(
            "amount", f"is more than the {charge.refundable} minor units left to refund"
        )
    settlement = charge.settlement_currency
    _require_funds(funds, charge.merchant_id, settlement, charge.livemode)
    refund_s = convert_to(amount, settlement, fx)
    fee_back = 0
    if return_fee:
        fee_left = charge.fee.amount - charge.fee_refunded
        empties_charge = amount.amount == charge.refundable and charge.disputed == 0
        share = prorated_fee(charge.fee.amount, amount.amount, charge.captured.amount)
        fee_back = max(0, min(fee_left if empties_charge else share, fee_left, refund_s.amount))
    book = _Book(charge.livemode)
    # A refund is owed to the cardholder whatever the merchant's balance: what available
    # and pending cannot pay becomes the merchant's debt (receivable), repaid by later
    # funds, as with disputes. Refusing it would strand the customer.
    _debit_funds(book, funds, plan_debit(funds, refund_s.amount - fee_back, allow_receivable=True))
    book.debit(funds.account(K.FEES), fee_back)
    book.through_fx(refund_s, amount)
    book.credit(book.merchant(charge.merchant_id, K.REFUNDS, amount.currency), amount.amount)
    return book.entry(
        EntryKind.REFUND,
        id=entry_id,
        merchant_id=charge.merchant_id,
        source=refund_id,
        created=at,
        payment_intent_id=charge.payment_intent_id,
        presentment=amount,
        fx=fx,
    )


def refund_succeeded(*, entry_id: str, at: datetime, refund: JournalEntry) -> JournalEntry:
    """The acquirer paid the refund: DR merchant refunds:C, CR acquirer_clearing:C."""
    _require_kind(refund, EntryKind.REFUND)
    assert refund.presentment is not None
    amount = refund.presentment
    book = _Book(refund.livemode)
    book.debit(book.merchant(refund.merchant_id, K.REFUNDS, amount.currency), amount.amount)
    book.credit(book.platform(K.ACQUIRER_CLEARING, amount.currency), amount.amount)
    return book.entry(
        EntryKind.REFUND_SUCCEEDED,
        id=entry_id,
        merchant_id=refund.merchant_id,
        source=refund.source,
        created=at,
        payment_intent_id=refund.payment_intent_id,
        presentment=amount,
        related_entry_id=refund.id,
    )


def refund_failed(
    *, entry_id: str, at: datetime, refund: JournalEntry, funds: MerchantFunds
) -> JournalEntry:
    """The refund bounced: the REFUND entry undone at its own rate, funds back to available
    (repaying any receivable first), the fee share taken back."""
    _require_kind(refund, EntryKind.REFUND)
    _require_funds(funds, refund.merchant_id, funds.currency, refund.livemode)
    book = _Book(refund.livemode)
    back = 0
    for posting in refund.postings:
        kind = posting.account.kind
        # What the refund took from the merchant, debt included, comes back as one credit
        # that repays the receivable first.
        if posting.account.merchant_id and kind in (K.AVAILABLE, K.PENDING, K.RECEIVABLE):
            if posting.currency != funds.currency:
                raise ValueError("funds are not in the refund's settlement currency")
            back += posting.amount
        elif posting.amount > 0:
            book.credit(posting.account, posting.amount)
        else:
            book.debit(posting.account, -posting.amount)
    _credit_funds(book, funds, back)
    return book.entry(
        EntryKind.REFUND_FAILED,
        id=entry_id,
        merchant_id=refund.merchant_id,
        source=refund.source,
        created=at,
        payment_intent_id=refund.payment_intent_id,
        presentment=refund.presentment,
        fx=refund.fx,
        related_entry_id=refund.id,
    )


# --- disputes ------------------------------------------------------------------------


def dispute_opened(
    *,
    entry_id: str,
    at: datetime,
    dispute_id: str,
    charge: ChargeState,
    amount: Money,
    dispute_fee: Money,
    fx: FxRate | None,
    funds: MerchantFunds,
) -> JournalEntry:
    """A cardholder disputes `amount` (charge currency C) of a charge.

    The disputed amount (at `fx`, C->S) and the dispute fee (already in S) are withdrawn
    from available, then pending; what they cannot cover becomes a RECEIVABLE (the network
    takes the money whatever the merchant's balance). The amount is held in DISPUTES, in
    the currency it is disputed in, until the dispute closes.

    DR merchant available/pending/receivable:S  held_S + fee
    CR merchant fees:S                          fee
    [CR fx:S held_S / DR fx:C amount]
    CR merchant disputes:C                      amount
    """
    _require_amount(amount, "amount")
    settlement = charge.settlement_currency
    if amount.currency != charge.captured.currency:
        raise InvalidArgument.field("currency", f"must be the charge's {charge.captured.currency}")
    if amount.amount > charge.refundable:
        raise AmountTooLarge(
            "amount", f"is more than the {charge.refundable} minor units not refunded or disputed"
        )
    if dispute_fee.currency != settlement or dispute_fee.amount < 0:
        raise ValueError("the dispute fee is a non-negative amount in the settlement currency")
    _require_funds(funds, charge.merchant_id, settlement, charge.livemode)
    held = convert_to(amount, settlement, fx)
    book = _Book(charge.livemode)
    total = held.amount + dispute_fee.amount
    _debit_funds(book, funds, plan_debit(funds, total, allow_receivable=True))
    book.credit(funds.account(K.FEES), dispute_fee.amount)
    book.through_fx(held, amount)
    book.credit(book.merchant(charge.merchant_id, K.DISPUTES, amount.currency), amount.amount)
    return book.entry(
        EntryKind.DISPUTE_OPENED,
        id=entry_id,
        merchant_id=charge.merchant_id,
        source=dispute_id,
        created=at,
        payment_intent_id=charge.payment_intent_id,
        presentment=amount,
        fx=fx,
    )


def dispute_won(
    *,
    entry_id: str,
    at: datetime,
    opened: JournalEntry,
    funds: MerchantFunds,
    return_fee: bool = False,
) -> JournalEntry:
    """The merchant won: what was withdrawn comes back at the opening rate, so the
    merchant neither gains nor loses on FX; by policy the dispute fee comes back too.

    DR merchant disputes:C  amount
    [CR fx:C amount / DR fx:S held_S]
    DR merchant fees:S      fee (when returned)
    CR merchant receivable/available:S  held_S [+ fee]
    """
    _require_kind(opened, EntryKind.DISPUTE_OPENED)
    disputed, held, dispute_fee = _withdrawn(opened)
    _require_funds(funds, opened.merchant_id, held.currency, opened.livemode)
    fee_back = dispute_fee.amount if return_fee else 0
    book = _Book(opened.livemode)
    book.debit(book.merchant(opened.merchant_id, K.DISPUTES, disputed.currency), disputed.amount)
    book.through_fx(disputed, held)
    book.debit(funds.account(K.FEES), fee_back)
    _credit_funds(book, funds, held.amount + fee_back)
    return book.entry(
        EntryKind.DISPUTE_WON,
        id=entry_id,
        merchant_id=opened.merchant_id,
        source=opened.source,
        created=at,
        payment_intent_id=opened.payment_intent_id,
        presentment=opened.presentment,
        fx=opened.fx,
        related_entry_id=opened.id,
    )


def dispute_lost(*, entry_id: str, at: datetime, opened: JournalEntry) -> JournalEntry:
    """The merchant lost: the held amount goes to the acquirer (the chargeback), in the
    charge currency it was held in; the merchant's funds already paid at opening.

    DR merchant disputes:C  amount
    CR acquirer_clearing:C  amount
    """
    _require_kind(opened, EntryKind.DISPUTE_OPENED)
    disputed, _, _ = _withdrawn(opened)
    book = _Book(opened.livemode)
    book.debit(book.merchant(opened.merchant_id, K.DISPUTES, disputed.currency), disputed.amount)
    book.credit(book.platform(K.ACQUIRER_CLEARING, disputed.currency), disputed.amount)
    return book.entry(
        EntryKind.DISPUTE_LOST,
        id=entry_id,
        merchant_id=opened.merchant_id,
        source=opened.source,
        created=at,
        payment_intent_id=opened.payment_intent_id,
        presentment=opened.presentment,
        related_entry_id=opened.id,
    )


# --- payouts -------------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutDecision:
    approved: bool
    amount: int
    reason: str = ""  # why not: AMOUNT_NOT_POSITIVE, BELOW_MINIMUM, BALANCE_INSUFFICIENT


def decide_payout(
    available: int, requested: int | None = None, *, minimum: int = 1
) -> PayoutDecision:
    """Whether a payout may go, given the available balance read under the debit lock.

    `requested` None pays out everything available (automatic payouts). A payout never
    takes available below zero, and never sends less than `minimum` minor units.
    """
    available = max(available, 0)
    amount = available if requested is None else requested
    if amount <= 0:
        reason = "BALANCE_INSUFFICIENT" if requested is None else "AMOUNT_NOT_POSITIVE"
        return PayoutDecision(False, 0, reason)
    if amount < minimum:
        return PayoutDecision(False, 0, "BELOW_MINIMUM")
    if amount > available:
        return PayoutDecision(False, 0, "BALANCE_INSUFFICIENT")
    return PayoutDecision(True, amount)


def payout(
    *, entry_id: str, at: datetime, payout_id: str, amount: Money, funds: MerchantFunds
) -> JournalEntry:
    """DR merchant available:S amount, CR payouts_in_transit:S amount; refused (raises
    InsufficientFunds) unless decide_payout approves it."""
    _require_amount(amount, "amount")
    _require_funds(funds, funds.merchant_id, amount.currency)
    decision = decide_payout(funds.available, amount.amount)
    if not decision.approved:
        raise InsufficientFunds(
            currency=amount.currency, needed=amount.amount, available=max(funds.available, 0)
        )
    book = _Book(funds.livemode)
    book.debit(funds.account(K.AVAILABLE), amount.amount)
    book.credit(book.platform(K.PAYOUTS_IN_TRANSIT, amount.currency), amount.amount)
    return book.entry(
        EntryKind.PAYOUT,
        id=entry_id,
        merchant_id=funds.merchant_id,
        source=payout_id,
        created=at,
    )


def payout_failed(
    *, entry_id: str, at: datetime, payout: JournalEntry, funds: MerchantFunds
) -> JournalEntry:
    """The bank returned the payout: DR payouts_in_transit, CR receivable/available."""
    _require_kind(payout, EntryKind.PAYOUT)
    in_transit = next(p for p in payout.postings if p.account.kind is K.PAYOUTS_IN_TRANSIT)
    _require_funds(funds, payout.merchant_id, in_transit.currency, payout.livemode)
    book = _Book(payout.livemode)
    book.debit(in_transit.account, -in_transit.amount)
    _credit_funds(book, funds, -in_transit.amount)
    return book.entry(
        EntryKind.PAYOUT_FAILED,
        id=entry_id,
        merchant_id=payout.merchant_id,
        source=payout.source,
        created=at,
        related_entry_id=payout.id,
    )


# --- fees, adjustments, settlement and reserves --------------------------------------


def fee(
    *,
    entry_id: str,
    at: datetime,
    source: str,
    amount: Money,
    funds: MerchantFunds,
    description: str = "",
) -> JournalEntry:
    """A fee billed on its own (e.g. a payout or account fee): from available, then pending,
    the rest owed as a receivable. DR merchant funds:S, CR merchant fees:S."""
    _require_amount(amount, "amount")
    _require_funds(funds, funds.merchant_id, amount.currency)
    book = _Book(funds.livemode)
    _debit_funds(book, funds, plan_debit(funds, amount.amount, allow_receivable=True))
    book.credit(funds.account(K.FEES), amount.amount)
    return book.entry(
        EntryKind.FEE,
        id=entry_id,
        merchant_id=funds.merchant_id,
        source=source,
        created=at,
        description=description,
    )


def adjustment(
    *,
    entry_id: str,
    at: datetime,
    source: str,
    amount: Money,
    funds: MerchantFunds,
    description: str,
) -> JournalEntry:
    """An operator's correction: positive credits the merchant, negative debits it (from
    available, then pending, the rest as receivable). The other side is the platform's
    ADJUSTMENTS account. This is how a wrong entry is corrected: by a new one."""
    if amount.amount == 0 or abs(amount.amount) > MAX_AMOUNT:
        raise InvalidArgument.field("amount", f"must be non-zero and at most {MAX_AMOUNT}")
    if not description:
        raise InvalidArgument.field("description", "an adjustment says why")
    _require_funds(funds, funds.merchant_id, amount.currency)
    book = _Book(funds.livemode)
    platform = book.platform(K.ADJUSTMENTS, amount.currency)
    if amount.amount > 0:
        book.debit(platform, amount.amount)
        _credit_funds(book, funds, amount.amount)
    else:
        _debit_funds(book, funds, plan_debit(funds, -amount.amount, allow_receivable=True))
        book.credit(platform, -amount.amount)
    return book.entry(
        EntryKind.ADJUSTMENT,
        id=entry_id,
        merchant_id=funds.merchant_id,
        source=source,
        created=at,
        description=description,
    )


def release_pending(
    *, entry_id: str, at: datetime, source: str, due: Money, funds: MerchantFunds
) -> JournalEntry | None:
    """Captures came due: min(due, pending) moves from pending to available, repaying the
    receivable first. None when there is nothing to move (refunds may have used pending).

    DR merchant pending:S  x;  CR merchant receivable/available:S  x
    """
    _require_funds(funds, funds.merchant_id, due.currency)
    moved = min(max(due.amount, 0), max(funds.pending, 0))
    if moved == 0:
        return None
    book = _Book(funds.livemode)
    book.debit(funds.account(K.PENDING), moved)
    _credit_funds(book, funds, moved)
    return book.entry(
        EntryKind.RELEASE,
        id=entry_id,
        merchant_id=funds.merchant_id,
        source=source,
        created=at,
    )


def hold_reserve(
    *, entry_id: str, at: datetime, source: str, amount: Money, funds: MerchantFunds
) -> JournalEntry:
    """Risk holds part of the available balance: DR available, CR reserve."""
    _require_amount(amount, "amount")
    _require_funds(funds, funds.merchant_id, amount.currency)
    book = _Book(funds.livemode)
    _debit_funds(book, funds, plan_debit(funds, amount.amount, sources=(K.AVAILABLE,)))
    book.credit(funds.account(K.RESERVE), amount.amount)
    return book.entry(
        EntryKind.RESERVE_HOLD,
        id=entry_id,
        merchant_id=funds.merchant_id,
        source=source,
        created=at,
    )


def release_reserve(
    *, entry_id: str, at: datetime, source: str, amount: Money, funds: MerchantFunds
) -> JournalEntry:
    """DR reserve, CR receivable/available; never more than the reserve holds."""
    _require_amount(amount, "amount")
    _require_funds(funds, funds.merchant_id, amount.currency)
    book = _Book(funds.livemode)
    _debit_funds(book, funds, plan_debit(funds, amount.amount, sources=(K.RESERVE,)))
    _credit_funds(book, funds, amount.amount)
    return book.entry(
        EntryKind.RESERVE_RELEASE,
        id=entry_id,
        merchant_id=funds.merchant_id,
        source=source,
        created=at,
    )


def sweep_fees(
    *,
    entry_id: str,
    at: datetime,
    merchant_id: str,
    source: str,
    amount: Money,
    livemode: bool = False,
) -> JournalEntry:
    """Moves fees from the merchant's FEES sub-ledger to the platform's FEE_REVENUE, so that
    platform revenue gets one posting per merchant per sweep, not one per capture. A
    negative amount moves revenue back (fees returned by refunds after the last sweep)."""
    if amount.amount == 0:
        raise InvalidArgument.field("amount", "must be non-zero")
    book = _Book(livemode)
    fees = book.merchant(merchant_id, K.FEES, amount.currency)
    revenue = book.platform(K.FEE_REVENUE, amount.currency)
    if amount.amount > 0:
        book.debit(fees, amount.amount)
        book.credit(revenue, amount.amount)
    else:
        book.debit(revenue, -amount.amount)
        book.credit(fees, -amount.amount)
    return book.entry(
        EntryKind.FEE_SWEEP,
        id=entry_id,
        merchant_id=merchant_id,
        source=source,
        created=at,
    )
