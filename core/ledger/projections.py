"""What entries derive to: balance transactions, a charge's state, a merchant's balance.

Pure folds over entries and raw account sums, shared by the SQL adapter (which stores the
balance transaction of each entry beside it, to list them by index) and the fakes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from core.ledger.accounts import BALANCE_KINDS, PRESENTMENT_KINDS, Account, AccountKind
from core.ledger.model import (
    BalanceTransaction,
    BalanceTransactionType,
    ChargeState,
    EntryKind,
    JournalEntry,
    MerchantBalance,
)
from core.shared.money import Money

__all__ = ["BALANCE_TRANSACTION_TYPES", "balance_transaction", "charge_state", "merchant_balance"]

E = EntryKind
T = BalanceTransactionType
# Entries that change what the merchant sees, and the type they show as. The others
# (RELEASE, REFUND_SUCCEEDED, DISPUTE_LOST, FEE_SWEEP) move money between accounts the
# merchant's balance does not distinguish, or between platform accounts.
BALANCE_TRANSACTION_TYPES: dict[EntryKind, BalanceTransactionType] = {
    E.CAPTURE: T.CHARGE,
    E.REFUND: T.REFUND,
    E.REFUND_FAILED: T.REFUND,
    E.DISPUTE_OPENED: T.DISPUTE,
    E.DISPUTE_WON: T.DISPUTE,
    E.PAYOUT: T.PAYOUT,
    E.PAYOUT_FAILED: T.PAYOUT,
    E.FEE: T.FEE,
    E.ADJUSTMENT: T.ADJUSTMENT,
    E.RESERVE_HOLD: T.ADJUSTMENT,
    E.RESERVE_RELEASE: T.ADJUSTMENT,
}


def balance_transaction(entry: JournalEntry) -> BalanceTransaction | None:
    """The entry as the merchant sees it, or None for internal movements.

    net    = change of the merchant's balance (available + pending - receivable)
    fee    = fees paygate charged in it (credits to the merchant's FEES; negative when
             given back), except a FEE entry, which is all amount: fee 0 (as Stripe shows)
    amount = net + fee, the gross before fees
    """
    bt_type = BALANCE_TRANSACTION_TYPES.get(entry.kind)
    if bt_type is None:
        return None
    currency = entry.settlement_currency
    merchant_postings = [p for p in entry.postings if p.account.merchant_id]
    # REFUNDS and DISPUTES are in the charge currency, the others in the settlement one.
    if any(
        p.currency != currency and p.account.kind not in PRESENTMENT_KINDS
        for p in merchant_postings
    ):
        raise ValueError(f"{entry.id} moves merchant funds in more than {currency}")
    net = -sum(p.amount for p in merchant_postings if p.account.kind in BALANCE_KINDS)
    fee = -sum(p.amount for p in merchant_postings if p.account.kind is AccountKind.FEES)
    if entry.kind is E.FEE:
        fee = 0
    available_on = entry.available_on or entry.created
    return BalanceTransaction(
        id=entry.id,
        merchant_id=entry.merchant_id,
        type=bt_type,
        amount=net + fee,
        fee=fee,
        net=net,
        currency=currency,
        source=entry.source,
        available_on=available_on,
        created=entry.created,
        exchange_rate=entry.fx.rate if entry.fx is not None else None,
        description=entry.description,
        livemode=entry.livemode,
    )


def charge_state(entries: Iterable[JournalEntry]) -> ChargeState | None:
    """Folds one payment's entries (any order) into what was captured, refunded and
    disputed. None before the first capture."""
    entries = sorted(entries, key=lambda e: e.id)
    captures = [e for e in entries if e.kind is E.CAPTURE]
    if not captures:
        return None
    first = captures[0]
    assert first.presentment is not None
    settlement = first.settlement_currency
    captured = Money(0, first.presentment.currency)
    fee_total = refunded = fee_refunded = disputed = 0
    for entry in entries:
        if entry.payment_intent_id != first.payment_intent_id:
            raise ValueError(f"{entry.id} belongs to {entry.payment_intent_id}")
        if entry.livemode != first.livemode:
            raise ValueError(f"{entry.id} is not in its payment's mode")
        amount = entry.presentment.amount if entry.presentment is not None else 0
        fees = [p for p in entry.postings if p.account.kind is AccountKind.FEES]
        if any(p.currency != settlement for p in fees):
            raise ValueError("a charge's fees are in one settlement currency")
        fee_raw = sum(p.amount for p in fees)
        if entry.kind is E.CAPTURE:
            if entry.settlement_currency != settlement:
                raise ValueError("a charge's captures settle in one currency")
            captured = Money(captured.amount + amount, captured.currency)
            fee_total -= fee_raw
        elif entry.kind in (E.REFUND, E.REFUND_FAILED):
            refunded += amount if entry.kind is E.REFUND else -amount
            fee_refunded += fee_raw
        elif entry.kind is E.DISPUTE_OPENED:
            disputed += amount
        elif entry.kind is E.DISPUTE_WON:
            disputed -= amount
    return ChargeState(
        payment_intent_id=first.payment_intent_id,
        merchant_id=first.merchant_id,
        captured=captured,
        fee=Money(fee_total, settlement),
        refunded=refunded,
        fee_refunded=fee_refunded,
        disputed=disputed,
        livemode=first.livemode,
    )


def merchant_balance(raw: Mapping[Account, int], livemode: bool = False) -> MerchantBalance:
    """GET /v1/balance from the raw sums of one merchant's accounts (all of `livemode`),
    currencies sorted."""
    available: dict[str, int] = {}
    pending: dict[str, int] = {}
    reserved: dict[str, int] = {}
    for account, amount in raw.items():
        value = account.normal_balance(amount)
        currency = account.currency
        if account.kind is AccountKind.AVAILABLE:
            available[currency] = available.get(currency, 0) + value
        elif account.kind is AccountKind.RECEIVABLE:
            available[currency] = available.get(currency, 0) - value
        elif account.kind is AccountKind.PENDING:
            pending[currency] = pending.get(currency, 0) + value
        elif account.kind is AccountKind.RESERVE:
            reserved[currency] = reserved.get(currency, 0) + value
    currencies = sorted({*available, *pending})
    return MerchantBalance(
        available=[Money(available.get(c, 0), c) for c in currencies],
        pending=[Money(pending.get(c, 0), c) for c in currencies],
        reserved=[Money(v, c) for c, v in sorted(reserved.items())],
        livemode=livemode,
    )
