"""A random life of the ledger: captures in several currencies with FX, partial refunds and
their outcomes, disputes opened, won and lost, settlements, payouts and their failures,
fees, adjustments, reserves and fee sweeps. After every step the books must hold."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from core.ledger import movements as mv
from core.ledger.accounts import NON_NEGATIVE_KINDS, Account, AccountKind
from core.ledger.errors import AmountTooLarge, InsufficientFunds
from core.ledger.fees import Pricing, fee_for
from core.ledger.fx import FxRate
from core.ledger.model import (
    ChargeState,
    JournalEntry,
    MerchantFunds,
    MerchantTerms,
    totals_by_currency,
)
from core.ledger.projections import charge_state
from core.shared.money import Money
from tests.fakes.ledger import LedgerBook
from tests.unit.ledger.support import CURRENCIES, SequentialIds, SteppingClock, full_rate_table

K = AccountKind
TERMS = {
    "acct_usd": MerchantTerms(settlement_currency="USD"),
    "acct_kwd": MerchantTerms(
        settlement_currency="KWD", pricing=Pricing(refund_fees=True, dispute_fee=5000)
    ),
    "acct_jpy": MerchantTerms(
        settlement_currency="JPY",
        settlement_delay_days=0,
        pricing=Pricing(refund_fees=True, refund_dispute_fee_on_win=True, dispute_fee=2000),
    ),
}
MERCHANTS = sorted(TERMS)
pick = st.integers(min_value=0, max_value=10_000)


@dataclass
class Charge:
    merchant_id: str
    payment_intent_id: str
    captured: Money
    refunded: int = 0  # refunds not failed
    disputed: int = 0  # open or lost disputes

    @property
    def refundable(self) -> int:
        return self.captured.amount - self.refunded - self.disputed


@dataclass
class World:
    charges: list[Charge] = field(default_factory=list)
    refunds_in_flight: list[tuple[Charge, JournalEntry]] = field(default_factory=list)
    open_disputes: list[tuple[Charge, JournalEntry]] = field(default_factory=list)
    payouts_in_transit: list[JournalEntry] = field(default_factory=list)
    unreleased: list[JournalEntry] = field(default_factory=list)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = LedgerBook()
        self.ids = SequentialIds()
        self.clock = SteppingClock()
        self.rates = full_rate_table()
        self.world = World()

    # --- helpers ---------------------------------------------------------------------

    def entry_id(self) -> str:
        return self.ids.new("txn")

    def rate(self, base: str, quote: str) -> FxRate | None:
        return None if base == quote else self.rates.rate(base, quote, at=self.clock.now())

    def funds(self, merchant_id: str, currency: str | None = None) -> MerchantFunds:
        currency = currency or TERMS[merchant_id].settlement_currency
        raw = self.book.balances(MerchantFunds.accounts(merchant_id, currency))
        return MerchantFunds.from_raw(merchant_id, currency, raw)

    def charge_state_of(self, charge: Charge) -> ChargeState:
        entries = self.book.entries_for_payment(charge.merchant_id, charge.payment_intent_id)
        state = charge_state(entries)
        assert state is not None
        return state

    # --- payments --------------------------------------------------------------------

    @rule(
        merchant_id=st.sampled_from(MERCHANTS),
        currency=st.sampled_from(CURRENCIES),
        amount=st.integers(min_value=50, max_value=5_000_000),
        method=st.sampled_from(["card", "upi"]),
    )
    def capture(self, merchant_id: str, currency: str, amount: int, method: str) -> None:
        terms = TERMS[merchant_id]
        money = Money(amount, currency)
        pi = self.ids.new("pi")
        entry = mv.capture(
            entry_id=self.entry_id(),
            at=self.clock.now(),
            merchant_id=merchant_id,
            payment_intent_id=pi,
            amount=money,
            fee=fee_for(money, method, terms.pricing),
            terms=terms,
            fx=self.rate(currency, terms.settlement_currency),
        )
        self.book.append(entry)
        self.world.charges.append(Charge(merchant_id, pi, money))
        self.world.unreleased.append(entry)

    @precondition(lambda self: self.world.charges)
    @rule(index=pick, share=st.integers(min_value=1, max_value=110))
    def refund(self, index: int, share: int) -> None:
        charge = self.world.charges[index % len(self.world.charges)]
        amount = max(1, charge.captured.amount * share // 100)
        state = self.charge_state_of(charge)
        settlement = TERMS[charge.merchant_id].settlement_currency
        funds = self.funds(charge.merchant_id, settlement)
        try:
            entry = mv.refund(
                entry_id=self.entry_id(),
                at=self.clock.now(),
                refund_id=self.ids.new("re"),
                charge=state,
                amount=Money(amount, charge.captured.currency),
                fx=self.rate(charge.captured.currency, settlement),
                funds=funds,
                return_fee=TERMS[charge.merchant_id].pricing.refund_fees,
            )
        except AmountTooLarge:
            assert amount > charge.refundable
            return
        except InsufficientFunds as refused:
            assert amount <= charge.refundable
            assert refused.needed > funds.available + funds.pending == refused.available
            return
        assert amount <= charge.refundable
        self.book.append(entry)
        charge.refunded += amount
        self.world.refunds_in_flight.append((charge, entry))

    @precondition(lambda self: self.world.refunds_in_flight)
    @rule(index=pick, succeeded=st.booleans())
    def refund_outcome(self, index: int, succeeded: bool) -> None:
        charge, refund = self.world.refunds_in_flight.pop(index % len(self.world.refunds_in_flight))
        if succeeded:
            entry = mv.refund_succeeded(
                entry_id=self.entry_id(), at=self.clock.now(), refund=refund
            )
        else:
            entry = mv.refund_failed(
                entry_id=self.entry_id(),
                at=self.clock.now(),
                refund=refund,
                funds=self.funds(refund.merchant_id),
            )
            assert refund.presentment is not None
            charge.refunded -= refund.presentment.amount
        self.book.append(entry)

    # --- disputes --------------------------------------------------------------------

    @precondition(lambda self: any(c.refundable > 0 for c in self.world.charges))
    @rule(index=pick, share=st.integers(min_value=1, max_value=100))
    def open_dispute(self, index: int, share: int) -> None:
        open_charges = [c for c in self.world.charges if c.refundable > 0]
        charge = open_charges[index % len(open_charges)]
        amount = max(1, charge.refundable * share // 100)
        terms = TERMS[charge.merchant_id]
        entry = mv.dispute_opened(
            entry_id=self.entry_id(),
            at=self.clock.now(),
            dispute_id=self.ids.new("dp"),
            charge=self.charge_state_of(charge),
            amount=Money(amount, charge.captured.currency),
            dispute_fee=terms.pricing.dispute_fee_for(terms.settlement_currency),
            fx=self.rate(charge.captured.currency, terms.settlement_currency),
            funds=self.funds(charge.merchant_id),
        )
        self.book.append(entry)
        charge.disputed += amount
        self.world.open_disputes.append((charge, entry))

    @precondition(lambda self: self.world.open_disputes)
    @rule(index=pick, won=st.booleans())
    def close_dispute(self, index: int, won: bool) -> None:
        charge, opened = self.world.open_disputes.pop(index % len(self.world.open_disputes))
        if won:
            entry = mv.dispute_won(
                entry_id=self.entry_id(),
                at=self.clock.now(),
                opened=opened,
                funds=self.funds(opened.merchant_id),
                return_fee=TERMS[opened.merchant_id].pricing.refund_dispute_fee_on_win,
            )
            assert opened.presentment is not None
            charge.disputed -= opened.presentment.amount
        else:
            entry = mv.dispute_lost(entry_id=self.entry_id(), at=self.clock.now(), opened=opened)
        self.book.append(entry)

    # --- settlement and payouts ------------------------------------------------------

    @rule(days=st.integers(min_value=0, max_value=3), hours=st.integers(min_value=0, max_value=23))
    def time_passes_and_settlement_runs(self, days: int, hours: int) -> None:
        self.clock.advance(days=days, hours=hours)
        for merchant_id in MERCHANTS:
            self.settle(merchant_id)

    def settle(self, merchant_id: str) -> None:
        """The settlement batch: captures that came due move from pending to available."""
        now = self.clock.now()
        currency = TERMS[merchant_id].settlement_currency
        pending = Account.merchant(merchant_id, K.PENDING, currency)
        due_entries = [
            e
            for e in self.world.unreleased
            if e.merchant_id == merchant_id and e.available_on is not None and e.available_on <= now
        ]
        due = sum(-e.raw(pending) for e in due_entries)
        entry = mv.release_pending(
            entry_id=self.entry_id(),
            at=now,
            source=self.ids.new("st"),
            due=Money(due, currency),
            funds=self.funds(merchant_id),
        )
        if entry is not None:
            assert 0 < entry.raw(pending) <= due
            self.book.append(entry)
        self.world.unreleased = [e for e in self.world.unreleased if e not in due_entries]

    @rule(merchant_id=st.sampled_from(MERCHANTS), share=st.none() | st.integers(1, 150))
    def payout(self, merchant_id: str, share: int | None) -> None:
        funds = self.funds(merchant_id)
        requested = None if share is None else max(1, funds.available * share // 100)
        decision = mv.decide_payout(funds.available, requested)
        if not decision.approved:
            assert decision.reason == "BALANCE_INSUFFICIENT"
            assert (requested or 0) > funds.available or funds.available == 0
            return
        assert decision.amount <= funds.available
        entry = mv.payout(
            entry_id=self.entry_id(),
            at=self.clock.now(),
            payout_id=self.ids.new("po"),
            amount=Money(decision.amount, funds.currency),
            funds=funds,
        )
        self.book.append(entry)
        self.world.payouts_in_transit.append(entry)

    @precondition(lambda self: self.world.payouts_in_transit)
    @rule(index=pick)
    def payout_fails(self, index: int) -> None:
        payout = self.world.payouts_in_transit.pop(index % len(self.world.payouts_in_transit))
        entry = mv.payout_failed(
            entry_id=self.entry_id(),
            at=self.clock.now(),
            payout=payout,
            funds=self.funds(payout.merchant_id),
        )
        self.book.append(entry)

    # --- fees, adjustments, reserves, fee sweeps -------------------------------------

    @rule(
        merchant_id=st.sampled_from(MERCHANTS),
        action=st.sampled_from(["fee", "adjustment", "hold", "release", "sweep"]),
        amount=st.integers(-50_000, 50_000).filter(bool),
        share=st.integers(1, 100),
    )
    def back_office(self, merchant_id: str, action: str, amount: int, share: int) -> None:
        funds = self.funds(merchant_id)
        currency = funds.currency
        entry_id, at = self.entry_id(), self.clock.now()
        entry: JournalEntry | None = None
        if action == "fee":
            fee = Money(abs(amount) % 5000 + 1, currency)
            entry = mv.fee(entry_id=entry_id, at=at, source="monthly", amount=fee, funds=funds)
        elif action == "adjustment":
            money = Money(amount, currency)
            entry = mv.adjustment(
                entry_id=entry_id,
                at=at,
                source="ops",
                amount=money,
                funds=funds,
                description="correction",
            )
        elif action in ("hold", "release"):
            base = funds.available if action == "hold" else funds.reserve
            if base * share // 100 > 0:
                move = mv.hold_reserve if action == "hold" else mv.release_reserve
                money = Money(base * share // 100, currency)
                entry = move(entry_id=entry_id, at=at, source="risk", amount=money, funds=funds)
        else:
            fees = Account.merchant(merchant_id, K.FEES, currency)
            balance = fees.normal_balance(self.book.balance(fees))
            if balance:
                entry = mv.sweep_fees(
                    entry_id=entry_id,
                    at=at,
                    merchant_id=merchant_id,
                    source="sweep",
                    amount=Money(balance, currency),
                )
        if entry is not None:
            self.book.append(entry)

    # --- invariants ------------------------------------------------------------------

    @invariant()
    def every_entry_balances_per_currency(self) -> None:
        for entry in self.book.entries:
            assert all(total == 0 for total in totals_by_currency(entry.postings).values())

    @invariant()
    def all_accounts_sum_to_zero_per_currency(self) -> None:
        totals: dict[str, int] = {}
        for account, raw in self.book.all_balances().items():
            totals[account.currency] = totals.get(account.currency, 0) + raw
        assert all(total == 0 for total in totals.values()), totals

    @invariant()
    def balances_are_the_sums_of_postings(self) -> None:
        assert self.book.all_balances() == self.book.recomputed_balances()

    @invariant()
    def no_funds_account_goes_negative(self) -> None:
        for account, raw in self.book.all_balances().items():
            if account.kind in NON_NEGATIVE_KINDS:
                assert account.normal_balance(raw) >= 0, (account.code, raw)

    @invariant()
    def available_and_receivable_never_coexist(self) -> None:
        for merchant_id in MERCHANTS:
            funds = self.funds(merchant_id)
            assert funds.available == 0 or funds.receivable == 0, funds

    @invariant()
    def refunds_never_exceed_captured(self) -> None:
        for charge in self.world.charges:
            state = charge_state(
                self.book.entries_for_payment(charge.merchant_id, charge.payment_intent_id)
            )
            assert state is not None
            assert state.captured == charge.captured
            assert (state.refunded, state.disputed) == (charge.refunded, charge.disputed)
            assert 0 <= state.refunded <= state.refunded + state.disputed <= state.captured.amount
            assert 0 <= state.fee_refunded <= state.fee.amount

    @invariant()
    def balance_transactions_add_up_to_the_balance(self) -> None:
        for merchant_id in MERCHANTS:
            currency = TERMS[merchant_id].settlement_currency
            funds = self.funds(merchant_id)
            transactions = self.book.balance_transactions(merchant_id)
            assert all(t.amount - t.fee == t.net and t.currency == currency for t in transactions)
            total = sum(t.net for t in transactions)
            assert total == funds.available + funds.pending - funds.receivable

    @invariant()
    def in_flight_accounts_match_what_is_in_flight(self) -> None:
        expected: dict[Account, int] = {}

        def add(account: Account, amount: int) -> None:
            expected[account] = expected.get(account, 0) + amount

        for _, refund in self.world.refunds_in_flight:
            assert refund.presentment is not None
            currency = refund.presentment.currency
            add(
                Account.merchant(refund.merchant_id, K.REFUNDS, currency), refund.presentment.amount
            )
        for _, opened in self.world.open_disputes:
            assert opened.presentment is not None
            currency = opened.presentment.currency
            add(
                Account.merchant(opened.merchant_id, K.DISPUTES, currency),
                opened.presentment.amount,
            )
        for payout in self.world.payouts_in_transit:
            in_transit = Account.platform(K.PAYOUTS_IN_TRANSIT, payout.settlement_currency)
            add(in_transit, -payout.raw(in_transit))
        actual = {
            account: account.normal_balance(raw)
            for account, raw in self.book.all_balances().items()
            if account.kind in (K.REFUNDS, K.DISPUTES, K.PAYOUTS_IN_TRANSIT)
        }
        assert {a: v for a, v in actual.items() if v} == {a: v for a, v in expected.items() if v}


# Modest by default so the unit tier stays fast; PAYGATE_LEDGER_SOAK=20 runs a long soak.
_SOAK = int(os.environ.get("PAYGATE_LEDGER_SOAK", "1"))
LedgerMachine.TestCase.settings = settings(
    max_examples=40 * _SOAK, stateful_step_count=20 if _SOAK == 1 else 50, deadline=None
)
test_ledger_state_machine = LedgerMachine.TestCase
