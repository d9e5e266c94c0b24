"""The postings of every movement, their balance per currency, and what they derive to.

One cohesive thing (about 850 lines): one test group per function of
core/ledger/movements.py, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from core.ledger import movements as mv
from core.ledger.accounts import Account, AccountKind
from core.ledger.errors import AmountTooLarge, InsufficientFunds, NothingToReverse, UnbalancedEntry
from core.ledger.fees import fee_for
from core.ledger.model import (
    BalanceTransactionType,
    ChargeState,
    EntryKind,
    JournalEntry,
    MerchantTerms,
    Posting,
    totals_by_currency,
)
from core.ledger.projections import balance_transaction, charge_state
from core.shared.errors import InvalidArgument
from core.shared.money import Money
from tests.unit.ledger.support import T0, SequentialIds, funds, rate

K = AccountKind
M = "acct_m"
PI = "pi_1"
ids = SequentialIds()


def merchant(kind: AccountKind, currency: str = "USD") -> Account:
    return Account.merchant(M, kind, currency)


def platform(kind: AccountKind, currency: str = "USD") -> Account:
    return Account.platform(kind, currency)


def postings(entry: JournalEntry) -> dict[str, int]:
    return {p.account.code: p.amount for p in entry.postings}


def usd_capture(amount: int = 1000, fee: int = 59, at: datetime = T0) -> JournalEntry:
    return mv.capture(
        entry_id=ids.new("txn"),
        at=at,
        merchant_id=M,
        payment_intent_id=PI,
        amount=Money(amount, "USD"),
        fee=Money(fee, "USD"),
        terms=MerchantTerms(),
        fx=None,
    )


def usd_charge(refunded: int = 0, disputed: int = 0) -> ChargeState:
    captured, fee = Money(1000, "USD"), Money(59, "USD")
    return ChargeState(PI, M, captured, fee, refunded=refunded, disputed=disputed)


def assert_balanced(entry: JournalEntry) -> None:
    assert all(total == 0 for total in totals_by_currency(entry.postings).values())


class TestCapture:
    def test_same_currency(self) -> None:
        entry = usd_capture()
        assert postings(entry) == {
            "platform:acquirer_clearing:USD": 1000,
            "merchant:acct_m:pending:USD": -941,
            "merchant:acct_m:fees:USD": -59,
        }
        assert entry.kind is EntryKind.CAPTURE and entry.presentment == Money(1000, "USD")
        assert entry.fx is None
        bt = balance_transaction(entry)
        assert bt is not None
        assert (bt.type, bt.amount, bt.fee, bt.net, bt.currency, bt.source) == (
            BalanceTransactionType.CHARGE,
            1000,
            59,
            941,
            "USD",
            PI,
        )
        assert bt.id == entry.id
        assert bt.available_on == datetime(2026, 3, 8, tzinfo=UTC)  # Friday + 2 = Sunday

    def test_with_fx_converts_gross_and_fee_separately_and_keeps_the_rate(self) -> None:
        eur_usd = rate("EUR", "USD", "1.0869")
        amount = Money(1000, "EUR")
        entry = mv.capture(
            entry_id=ids.new("txn"),
            at=T0,
            merchant_id=M,
            payment_intent_id=PI,
            amount=amount,
            fee=fee_for(amount, "card"),  # 59 EUR cents
            terms=MerchantTerms(settlement_currency="USD"),
            fx=eur_usd,
        )
        # gross 10.869 -> 1087 cents (half even), fee 0.641271 -> 64, net 1023
        assert postings(entry) == {
            "platform:acquirer_clearing:EUR": 1000,
            "platform:fx:EUR": -1000,
            "platform:fx:USD": 1087,
            "merchant:acct_m:pending:USD": -1023,
            "merchant:acct_m:fees:USD": -64,
        }
        assert entry.fx == eur_usd
        bt = balance_transaction(entry)
        assert bt is not None and (bt.amount, bt.fee, bt.net, bt.currency) == (
            1087,
            64,
            1023,
            "USD",
        )
        assert bt.exchange_rate == Decimal("1.0869")

    def test_across_exponents_jpy_charge_settled_in_kwd(self) -> None:
        amount = Money(10000, "JPY")
        entry = mv.capture(
            entry_id=ids.new("txn"),
            at=T0,
            merchant_id=M,
            payment_intent_id=PI,
            amount=amount,
            fee=fee_for(amount, "card"),  # 290 + 30 = 320 yen
            terms=MerchantTerms(settlement_currency="KWD"),
            fx=rate("JPY", "KWD", "0.00205"),
        )
        # 10000 yen = 20.500 KWD; fee 320 yen = 0.656 KWD
        assert postings(entry) == {
            "platform:acquirer_clearing:JPY": 10000,
            "platform:fx:JPY": -10000,
            "platform:fx:KWD": 20500,
            "merchant:acct_m:pending:KWD": -19844,
            "merchant:acct_m:fees:KWD": -656,
        }

    def test_available_on_counts_calendar_days_from_the_utc_capture_day(self) -> None:
        late_friday_in_new_york = datetime(2026, 3, 6, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
        assert mv.available_on(late_friday_in_new_york, 2) == datetime(2026, 3, 9, tzinfo=UTC)
        assert mv.available_on(datetime(2026, 12, 31, 23, 59, tzinfo=UTC), 2) == datetime(
            2027, 1, 2, tzinfo=UTC
        )
        entry = mv.capture(
            entry_id=ids.new("txn"),
            at=T0,
            merchant_id=M,
            payment_intent_id=PI,
            amount=Money(1000, "USD"),
            fee=Money(59, "USD"),
            terms=MerchantTerms(settlement_delay_days=7),
            fx=None,
        )
        assert entry.available_on == datetime(2026, 3, 13, tzinfo=UTC)

    def test_refuses_bad_amounts(self) -> None:
        with pytest.raises(InvalidArgument):
            usd_capture(amount=0, fee=0)
        with pytest.raises(ValueError):
            usd_capture(amount=100, fee=101)
        with pytest.raises(ValueError):  # a cross-currency capture needs its rate
            mv.capture(
                entry_id=ids.new("txn"),
                at=T0,
                merchant_id=M,
                payment_intent_id=PI,
                amount=Money(1000, "EUR"),
                fee=Money(59, "EUR"),
                terms=MerchantTerms(),
                fx=None,
            )


class TestRefund:
    def refund(self, amount: int, **kwargs: object) -> JournalEntry:
        defaults: dict[str, object] = {
            "charge": usd_charge(),
            "fx": None,
            "funds": funds(available=5000),
        }
        defaults.update(kwargs)
        return mv.refund(
            entry_id=ids.new("txn"),
            at=T0,
            refund_id="re_1",
            amount=Money(amount, "USD"),
            **defaults,  # type: ignore[arg-type]
        )

    def test_from_available_keeps_the_fee_by_default(self) -> None:
        entry = self.refund(400)
        assert postings(entry) == {
            "merchant:acct_m:available:USD": 400,
            "merchant:acct_m:refunds:USD": -400,
        }
        bt = balance_transaction(entry)
        assert bt is not None and (bt.type, bt.amount, bt.fee, bt.net) == (
            BalanceTransactionType.REFUND,
            -400,
            0,
            -400,
        )

    def test_takes_pending_when_available_is_short(self) -> None:
        entry = self.refund(400, funds=funds(available=150, pending=941))
        assert postings(entry) == {
            "merchant:acct_m:available:USD": 150,
            "merchant:acct_m:pending:USD": 250,
            "merchant:acct_m:refunds:USD": -400,
        }

    def test_what_the_balance_cannot_pay_becomes_the_merchants_debt(self) -> None:
        entry = self.refund(400, funds=funds(available=150, pending=200))
        assert_balanced(entry)
        # Debits (positive): the whole balance, then the shortfall owed by the merchant.
        assert entry.raw(merchant(K.AVAILABLE)) == 150
        assert entry.raw(merchant(K.PENDING)) == 200
        assert entry.raw(merchant(K.RECEIVABLE)) == 50

    def test_never_exceeds_what_is_left_of_the_charge(self) -> None:
        with pytest.raises(AmountTooLarge) as caught:
            self.refund(301, charge=usd_charge(refunded=500, disputed=200))
        assert caught.value.reason == "AMOUNT_TOO_LARGE"
        assert caught.value.metadata["param"] == "amount"
        assert_balanced(self.refund(300, charge=usd_charge(refunded=500, disputed=200)))

    def test_returned_fee_shares_add_up_to_the_fee(self) -> None:
        charge = usd_charge()
        returned = []
        for amount in (333, 333, 334):
            entry = self.refund(amount, charge=charge, return_fee=True)
            fee_back = entry.raw(merchant(K.FEES))
            returned.append(fee_back)
            charge = replace(
                charge,
                refunded=charge.refunded + amount,
                fee_refunded=charge.fee_refunded + fee_back,
            )
        assert returned == [20, 20, 19]  # 19.647 -> 20, 20, then the remainder
        assert sum(returned) == 59

    def test_with_fee_back_the_balance_transaction_shows_it(self) -> None:
        entry = self.refund(500, return_fee=True)
        assert postings(entry) == {
            "merchant:acct_m:available:USD": 470,
            "merchant:acct_m:fees:USD": 30,
            "merchant:acct_m:refunds:USD": -500,
        }
        bt = balance_transaction(entry)
        assert bt is not None and (bt.amount, bt.fee, bt.net) == (-500, -30, -470)

    def test_cross_currency_at_todays_rate_owes_the_cardholder_in_the_charge_currency(
        self,
    ) -> None:
        charge = ChargeState(PI, M, captured=Money(10000, "JPY"), fee=Money(656, "KWD"))
        entry = mv.refund(
            entry_id=ids.new("txn"),
            at=T0,
            refund_id="re_1",
            charge=charge,
            amount=Money(5000, "JPY"),
            fx=rate("JPY", "KWD", "0.0021"),  # the yen rose since the capture
            funds=funds(currency="KWD", available=30000),
        )
        assert postings(entry) == {
            "merchant:acct_m:available:KWD": 10500,
            "platform:fx:KWD": -10500,
            "platform:fx:JPY": 5000,
            "merchant:acct_m:refunds:JPY": -5000,
        }
        bt = balance_transaction(entry)
        assert bt is not None and (bt.currency, bt.net) == ("KWD", -10500)

    def test_outcomes(self) -> None:
        refund = self.refund(400, funds=funds(available=150, pending=941), return_fee=True)
        succeeded = mv.refund_succeeded(entry_id=ids.new("txn"), at=T0, refund=refund)
        assert postings(succeeded) == {
            "merchant:acct_m:refunds:USD": 400,
            "platform:acquirer_clearing:USD": -400,
        }
        assert balance_transaction(succeeded) is None
        failed = mv.refund_failed(
            entry_id=ids.new("txn"), at=T0, refund=refund, funds=funds(receivable=100)
        )
        # Everything undone; the funds come back to available after repaying the receivable.
        assert postings(failed) == {
            "merchant:acct_m:fees:USD": -24,
            "merchant:acct_m:refunds:USD": 400,
            "merchant:acct_m:receivable:USD": -100,
            "merchant:acct_m:available:USD": -276,
        }
        assert failed.related_entry_id == refund.id
        bt = balance_transaction(failed)
        assert bt is not None and (bt.type, bt.amount, bt.fee, bt.net) == (
            BalanceTransactionType.REFUND,
            400,
            24,
            376,
        )
        with pytest.raises(NothingToReverse):
            mv.refund_succeeded(entry_id=ids.new("txn"), at=T0, refund=usd_capture())


class TestDispute:
    def open(self, available: int, pending: int = 0, fx_rate: str | None = None) -> JournalEntry:
        charge = usd_charge()
        amount = Money(1000, "USD")
        if fx_rate is not None:
            charge = ChargeState(PI, M, captured=Money(1000, "EUR"), fee=Money(64, "USD"))
            amount = Money(1000, "EUR")
        return mv.dispute_opened(
            entry_id=ids.new("txn"),
            at=T0,
            dispute_id="dp_1",
            charge=charge,
            amount=amount,
            dispute_fee=Money(1500, "USD"),
            fx=rate("EUR", "USD", fx_rate) if fx_rate else None,
            funds=funds(available=available, pending=pending),
        )

    def test_opening_withdraws_amount_and_fee_and_may_leave_a_receivable(self) -> None:
        entry = self.open(available=700, pending=941)
        assert postings(entry) == {
            "merchant:acct_m:available:USD": 700,
            "merchant:acct_m:pending:USD": 941,
            "merchant:acct_m:receivable:USD": 859,
            "merchant:acct_m:disputes:USD": -1000,
            "merchant:acct_m:fees:USD": -1500,
        }
        bt = balance_transaction(entry)
        assert bt is not None and (bt.type, bt.amount, bt.fee, bt.net) == (
            BalanceTransactionType.DISPUTE,
            -1000,
            1500,
            -2500,
        )

    def test_won_gives_the_amount_back_and_the_fee_by_policy(self) -> None:
        opened = self.open(available=5000)
        won = mv.dispute_won(entry_id=ids.new("txn"), at=T0, opened=opened, funds=funds())
        assert postings(won) == {
            "merchant:acct_m:disputes:USD": 1000,
            "merchant:acct_m:available:USD": -1000,
        }
        won_with_fee = mv.dispute_won(
            entry_id=ids.new("txn"),
            at=T0,
            opened=opened,
            funds=funds(receivable=300),
            return_fee=True,
        )
        assert postings(won_with_fee) == {
            "merchant:acct_m:disputes:USD": 1000,
            "merchant:acct_m:fees:USD": 1500,
            "merchant:acct_m:receivable:USD": -300,
            "merchant:acct_m:available:USD": -2200,
        }
        bt = balance_transaction(won_with_fee)
        assert bt is not None and (bt.amount, bt.fee, bt.net) == (1000, -1500, 2500)

    def test_cross_currency_holds_the_disputed_amount_in_the_charge_currency(self) -> None:
        opened = self.open(available=5000, fx_rate="1.0869")
        assert postings(opened) == {
            "merchant:acct_m:available:USD": 2587,
            "merchant:acct_m:fees:USD": -1500,
            "platform:fx:USD": -1087,
            "platform:fx:EUR": 1000,
            "merchant:acct_m:disputes:EUR": -1000,
        }
        bt = balance_transaction(opened)
        assert bt is not None and (bt.currency, bt.amount, bt.fee, bt.net) == (
            "USD",
            -1087,
            1500,
            -2587,
        )

    def test_won_returns_what_was_withdrawn_at_the_opening_rate(self) -> None:
        opened = self.open(available=5000, fx_rate="1.0869")
        won = mv.dispute_won(entry_id=ids.new("txn"), at=T0, opened=opened, funds=funds())
        assert postings(won) == {
            "merchant:acct_m:disputes:EUR": 1000,
            "platform:fx:EUR": -1000,
            "platform:fx:USD": 1087,
            "merchant:acct_m:available:USD": -1087,
        }
        assert won.fx == opened.fx

    def test_lost_pays_the_acquirer_in_the_charge_currency(self) -> None:
        opened = self.open(available=5000, fx_rate="1.0869")
        lost = mv.dispute_lost(entry_id=ids.new("txn"), at=T0 + timedelta(days=60), opened=opened)
        assert postings(lost) == {
            "merchant:acct_m:disputes:EUR": 1000,
            "platform:acquirer_clearing:EUR": -1000,
        }
        assert balance_transaction(lost) is None

    def test_a_dispute_too_small_to_convert_still_posts(self) -> None:
        charge = ChargeState(PI, M, captured=Money(50, "INR"), fee=Money(1, "KWD"))
        opened = mv.dispute_opened(
            entry_id=ids.new("txn"),
            at=T0,
            dispute_id="dp_1",
            charge=charge,
            amount=Money(1, "INR"),  # 0.000037 KWD: rounds to nothing
            dispute_fee=Money(0, "KWD"),
            fx=rate("INR", "KWD", "0.0037"),
            funds=funds(currency="KWD"),
        )
        assert postings(opened) == {
            "platform:fx:INR": 1,
            "merchant:acct_m:disputes:INR": -1,
        }
        won = mv.dispute_won(
            entry_id=ids.new("txn"), at=T0, opened=opened, funds=funds(currency="KWD")
        )
        assert postings(won) == {"merchant:acct_m:disputes:INR": 1, "platform:fx:INR": -1}

    def test_cannot_dispute_more_than_is_left(self) -> None:
        with pytest.raises(AmountTooLarge):
            mv.dispute_opened(
                entry_id=ids.new("txn"),
                at=T0,
                dispute_id="dp_1",
                charge=usd_charge(refunded=600),
                amount=Money(401, "USD"),
                dispute_fee=Money(1500, "USD"),
                fx=None,
                funds=funds(available=5000),
            )


class TestPayout:
    @pytest.mark.parametrize(
        ("available", "requested", "approved", "amount", "reason"),
        [
            (1000, 1000, True, 1000, ""),
            (1000, 400, True, 400, ""),
            (1000, None, True, 1000, ""),
            (1000, 1001, False, 0, "BALANCE_INSUFFICIENT"),
            (0, None, False, 0, "BALANCE_INSUFFICIENT"),
            (-5, 1, False, 0, "BALANCE_INSUFFICIENT"),
            (1000, 0, False, 0, "AMOUNT_NOT_POSITIVE"),
            (1000, -1, False, 0, "AMOUNT_NOT_POSITIVE"),
        ],
    )
    def test_decision(
        self, available: int, requested: int | None, approved: bool, amount: int, reason: str
    ) -> None:
        assert mv.decide_payout(available, requested) == mv.PayoutDecision(approved, amount, reason)

    def test_minimum(self) -> None:
        assert mv.decide_payout(99, None, minimum=100).reason == "BELOW_MINIMUM"
        assert mv.decide_payout(500, 99, minimum=100).reason == "BELOW_MINIMUM"

    def test_payout_and_its_failure(self) -> None:
        entry = mv.payout(
            entry_id=ids.new("txn"),
            at=T0,
            payout_id="po_1",
            amount=Money(700, "USD"),
            funds=funds(available=700),
        )
        assert postings(entry) == {
            "merchant:acct_m:available:USD": 700,
            "platform:payouts_in_transit:USD": -700,
        }
        bt = balance_transaction(entry)
        assert bt is not None and (bt.type, bt.amount, bt.net) == (
            BalanceTransactionType.PAYOUT,
            -700,
            -700,
        )
        failed = mv.payout_failed(entry_id=ids.new("txn"), at=T0, payout=entry, funds=funds())
        assert postings(failed) == {
            "platform:payouts_in_transit:USD": 700,
            "merchant:acct_m:available:USD": -700,
        }

    def test_payout_never_takes_available_below_zero(self) -> None:
        with pytest.raises(InsufficientFunds):
            mv.payout(
                entry_id=ids.new("txn"),
                at=T0,
                payout_id="po_1",
                amount=Money(701, "USD"),
                funds=funds(available=700, pending=10_000),
            )


class TestOtherMovements:
    def test_fee_billed_on_its_own(self) -> None:
        entry = mv.fee(
            entry_id=ids.new("txn"),
            at=T0,
            source="po_1",
            amount=Money(25, "USD"),
            funds=funds(available=10),
            description="payout fee",
        )
        assert postings(entry) == {
            "merchant:acct_m:available:USD": 10,
            "merchant:acct_m:receivable:USD": 15,
            "merchant:acct_m:fees:USD": -25,
        }
        bt = balance_transaction(entry)
        assert bt is not None and (bt.type, bt.amount, bt.fee, bt.net) == (
            BalanceTransactionType.FEE,
            -25,
            0,
            -25,
        )

    def test_adjustments_both_ways(self) -> None:
        credit = mv.adjustment(
            entry_id=ids.new("txn"),
            at=T0,
            source="ops-42",
            amount=Money(300, "USD"),
            funds=funds(receivable=100),
            description="goodwill",
        )
        assert postings(credit) == {
            "platform:adjustments:USD": 300,
            "merchant:acct_m:receivable:USD": -100,
            "merchant:acct_m:available:USD": -200,
        }
        debit = mv.adjustment(
            entry_id=ids.new("txn"),
            at=T0,
            source="ops-43",
            amount=Money(-300, "USD"),
            funds=funds(available=100, pending=50),
            description="correct ops-42",
        )
        assert postings(debit) == {
            "merchant:acct_m:available:USD": 100,
            "merchant:acct_m:pending:USD": 50,
            "merchant:acct_m:receivable:USD": 150,
            "platform:adjustments:USD": -300,
        }
        bt = balance_transaction(debit)
        assert bt is not None and (bt.type, bt.net) == (BalanceTransactionType.ADJUSTMENT, -300)
        with pytest.raises(InvalidArgument):
            mv.adjustment(
                entry_id=ids.new("txn"),
                at=T0,
                source="x",
                amount=Money(1, "USD"),
                funds=funds(),
                description="",
            )

    def test_release_moves_what_is_due_and_pending_repaying_the_receivable(self) -> None:
        entry = mv.release_pending(
            entry_id=ids.new("txn"),
            at=T0,
            source="st_1",
            due=Money(941, "USD"),
            funds=funds(pending=600, receivable=200),
        )
        assert entry is not None
        assert postings(entry) == {
            "merchant:acct_m:pending:USD": 600,
            "merchant:acct_m:receivable:USD": -200,
            "merchant:acct_m:available:USD": -400,
        }
        assert balance_transaction(entry) is None
        assert (
            mv.release_pending(
                entry_id=ids.new("txn"),
                at=T0,
                source="st_1",
                due=Money(941, "USD"),
                funds=funds(pending=0),
            )
            is None
        )

    def test_reserve_hold_and_release(self) -> None:
        hold = mv.hold_reserve(
            entry_id=ids.new("txn"),
            at=T0,
            source="risk-1",
            amount=Money(500, "USD"),
            funds=funds(available=800),
        )
        assert postings(hold) == {
            "merchant:acct_m:available:USD": 500,
            "merchant:acct_m:reserve:USD": -500,
        }
        bt = balance_transaction(hold)
        assert bt is not None and (bt.type, bt.net) == (BalanceTransactionType.ADJUSTMENT, -500)
        with pytest.raises(InsufficientFunds):
            mv.hold_reserve(
                entry_id=ids.new("txn"),
                at=T0,
                source="risk-1",
                amount=Money(801, "USD"),
                funds=funds(available=800, pending=5000),
            )
        with pytest.raises(InsufficientFunds):
            mv.release_reserve(
                entry_id=ids.new("txn"),
                at=T0,
                source="risk-1",
                amount=Money(501, "USD"),
                funds=funds(reserve=500),
            )

    def test_fee_sweep(self) -> None:
        entry = mv.sweep_fees(
            entry_id=ids.new("txn"), at=T0, merchant_id=M, source="st_1", amount=Money(59, "USD")
        )
        assert postings(entry) == {"merchant:acct_m:fees:USD": 59, "platform:fee_revenue:USD": -59}
        back = mv.sweep_fees(
            entry_id=ids.new("txn"), at=T0, merchant_id=M, source="st_2", amount=Money(-5, "USD")
        )
        assert postings(back) == {"platform:fee_revenue:USD": 5, "merchant:acct_m:fees:USD": -5}


def every_movement() -> list[JournalEntry]:
    """One entry of each kind, several across currencies."""
    new = ids.new
    eur_usd = rate("EUR", "USD", "1.0869")
    capture = usd_capture()
    fx_capture = mv.capture(
        entry_id=new("txn"),
        at=T0,
        merchant_id=M,
        payment_intent_id="pi_2",
        amount=Money(777, "EUR"),
        fee=Money(53, "EUR"),
        terms=MerchantTerms(),
        fx=eur_usd,
    )
    fx_charge = ChargeState("pi_2", M, Money(777, "EUR"), Money(58, "USD"))
    refund = mv.refund(
        entry_id=new("txn"),
        at=T0,
        refund_id="re_1",
        charge=fx_charge,
        amount=Money(333, "EUR"),
        fx=eur_usd,
        funds=funds(available=200, pending=5000),
        return_fee=True,
    )
    opened = mv.dispute_opened(
        entry_id=new("txn"),
        at=T0,
        dispute_id="dp_1",
        charge=fx_charge,
        amount=Money(444, "EUR"),
        dispute_fee=Money(1500, "USD"),
        fx=eur_usd,
        funds=funds(available=100, pending=200),
    )
    payout = mv.payout(
        entry_id=new("txn"),
        at=T0,
        payout_id="po_1",
        amount=Money(50, "USD"),
        funds=funds(available=50),
    )
    release = mv.release_pending(
        entry_id=new("txn"),
        at=T0,
        source="st_1",
        due=Money(941, "USD"),
        funds=funds(pending=941, receivable=10),
    )
    assert release is not None
    return [
        capture,
        fx_capture,
        refund,
        mv.refund_succeeded(entry_id=new("txn"), at=T0, refund=refund),
        mv.refund_failed(entry_id=new("txn"), at=T0, refund=refund, funds=funds(receivable=9)),
        opened,
        mv.dispute_won(entry_id=new("txn"), at=T0, opened=opened, funds=funds(), return_fee=True),
        mv.dispute_lost(entry_id=new("txn"), at=T0, opened=opened),
        payout,
        mv.payout_failed(entry_id=new("txn"), at=T0, payout=payout, funds=funds()),
        mv.fee(entry_id=new("txn"), at=T0, source="x", amount=Money(7, "USD"), funds=funds()),
        mv.adjustment(
            entry_id=new("txn"),
            at=T0,
            source="x",
            amount=Money(-7, "USD"),
            funds=funds(available=3),
            description="fix",
        ),
        release,
        mv.hold_reserve(
            entry_id=new("txn"),
            at=T0,
            source="x",
            amount=Money(5, "USD"),
            funds=funds(available=5),
        ),
        mv.release_reserve(
            entry_id=new("txn"),
            at=T0,
            source="x",
            amount=Money(5, "USD"),
            funds=funds(reserve=5),
        ),
        mv.sweep_fees(
            entry_id=new("txn"), at=T0, merchant_id=M, source="x", amount=Money(1, "USD")
        ),
    ]


def test_every_movement_kind_is_covered() -> None:
    assert {e.kind for e in every_movement()} == set(EntryKind)


@pytest.mark.parametrize("entry", every_movement(), ids=lambda e: e.kind.value)
def test_every_movement_balances_per_currency(entry: JournalEntry) -> None:
    assert_balanced(entry)
    bt = balance_transaction(entry)
    if bt is not None:
        assert bt.amount - bt.fee == bt.net
        assert bt.id == entry.id and bt.merchant_id == M


class TestJournalEntry:
    def build(self, *pairs: tuple[Account, int], **changes: object) -> JournalEntry:
        fields: dict[str, object] = {
            "id": ids.new("txn"),
            "kind": EntryKind.ADJUSTMENT,
            "merchant_id": M,
            "source": "x",
            "postings": tuple(Posting(a, amount) for a, amount in pairs),
            "created": T0,
        }
        fields.update(changes)
        return JournalEntry(**fields)  # type: ignore[arg-type]

    def test_postings_must_sum_to_zero_per_currency(self) -> None:
        with pytest.raises(UnbalancedEntry, match="does not balance"):
            self.build((merchant(K.AVAILABLE), 100), (platform(K.ADJUSTMENTS), -99))
        with pytest.raises(UnbalancedEntry, match="does not balance"):
            # balanced in total, but not per currency
            self.build((merchant(K.AVAILABLE), 100), (platform(K.ADJUSTMENTS, "EUR"), -100))

    @pytest.mark.parametrize(
        "bad",
        [
            lambda s: s.build((merchant(K.AVAILABLE), 0), (platform(K.ADJUSTMENTS), 0)),
            lambda s: s.build((merchant(K.AVAILABLE), 100)),
            lambda s: s.build((merchant(K.AVAILABLE), 100), (merchant(K.AVAILABLE), -100)),
            lambda s: s.build(
                (Account.merchant("acct_other", K.AVAILABLE, "USD"), 100),
                (platform(K.ADJUSTMENTS), -100),
            ),
            lambda s: s.build(
                (merchant(K.AVAILABLE), 100), (platform(K.ADJUSTMENTS), -100), id="re_1"
            ),
            lambda s: s.build(
                (merchant(K.AVAILABLE), 100),
                (platform(K.ADJUSTMENTS), -100),
                created=datetime(2026, 1, 1),
            ),
        ],
        ids=["zero", "single", "repeated-account", "other-merchant", "bad-id", "naive-time"],
    )
    def test_refuses_malformed_entries(self, bad: Callable[[TestJournalEntry], object]) -> None:
        with pytest.raises(UnbalancedEntry):
            bad(self)

    def test_postings_are_ints(self) -> None:
        with pytest.raises(UnbalancedEntry):
            Posting(merchant(K.AVAILABLE), Decimal(1))  # type: ignore[arg-type]


class TestAccounts:
    def test_codes_round_trip(self) -> None:
        for account in (merchant(K.AVAILABLE, "KWD"), platform(K.FX, "JPY")):
            assert Account.parse(account.code) == account
        assert merchant(K.PENDING).code == "merchant:acct_m:pending:USD"
        assert platform(K.FEE_REVENUE).code == "platform:fee_revenue:USD"

    def test_ownership_is_checked(self) -> None:
        with pytest.raises(ValueError):
            Account(K.AVAILABLE, "USD")
        with pytest.raises(ValueError):
            Account(K.FX, "USD", M)
        with pytest.raises(ValueError):
            Account(K.FX, "XXX")
        with pytest.raises(ValueError):
            Account.parse("merchant:available:USD")

    def test_normal_balances(self) -> None:
        assert merchant(K.AVAILABLE).normal_balance(-500) == 500
        assert merchant(K.RECEIVABLE).normal_balance(500) == 500
        assert platform(K.ACQUIRER_CLEARING).normal_balance(1000) == 1000
        assert platform(K.FEE_REVENUE).normal_balance(-59) == 59


def test_charge_state_folds_captures_refunds_and_disputes() -> None:
    new = ids.new
    first = usd_capture(600, 47)
    second = usd_capture(400, 42)
    state = charge_state([first, second])
    assert state == ChargeState(PI, M, Money(1000, "USD"), Money(89, "USD"))
    refund = mv.refund(
        entry_id=new("txn"),
        at=T0,
        refund_id="re_1",
        charge=state,
        amount=Money(300, "USD"),
        fx=None,
        funds=funds(pending=2000),
        return_fee=True,
    )
    opened = mv.dispute_opened(
        entry_id=new("txn"),
        at=T0,
        dispute_id="dp_1",
        charge=state,
        amount=Money(200, "USD"),
        dispute_fee=Money(1500, "USD"),
        fx=None,
        funds=funds(pending=2000),
    )
    entries = [second, opened, first, refund]  # any order
    state = charge_state(entries)
    assert state is not None
    assert (state.refunded, state.fee_refunded, state.disputed, state.refundable) == (
        300,
        27,
        200,
        500,
    )
    failed = mv.refund_failed(entry_id=new("txn"), at=T0, refund=refund, funds=funds())
    won = mv.dispute_won(entry_id=new("txn"), at=T0, opened=opened, funds=funds())
    state = charge_state([*entries, failed, won])
    assert state is not None
    assert (state.refunded, state.fee_refunded, state.disputed) == (0, 0, 0)
    assert charge_state([refund]) is None
