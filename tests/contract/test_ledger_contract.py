"""LedgerRepository, FxRateStore and MerchantTermsRepository: PostgreSQL and memory agree.

Every case runs in a unit of work, as the payment use-cases will: the hooks post into the
caller's transaction, and a rollback leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from adapters.system import RandomIds
from core.ledger.accounts import Account, AccountKind
from core.ledger.errors import FxRateUnavailable
from core.ledger.fees import FeeRule, Pricing
from core.ledger.fx import FxRate
from core.ledger.hooks import LedgerHooks
from core.ledger.model import (
    BalanceTransactionType,
    EntryKind,
    MerchantTerms,
    PayoutSchedule,
)
from core.ledger.use_cases import get_balance
from core.shared.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from core.shared.money import Money
from core.unit_of_work import UnitOfWorkFactory
from tests.contract.ledger_helpers import DAY0, RATES_AS_OF, T0, at, capture, load_rates, set_terms

K = AccountKind


async def test_a_capture_reads_back_entry_for_entry(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    await load_rates(any_uow_factory)
    intent = ids.new("pi")
    entry = await capture(
        any_uow_factory, ids, merchant_id, 1000, "EUR", payment_intent_id=intent, reference="cap_1"
    )
    assert entry.fx is not None and entry.fx.rate == Decimal("1.0869")
    async with any_uow_factory() as uow:
        ledger = uow.ledger
        assert await ledger.get(merchant_id, entry.id) == entry
        assert await ledger.get("acct_someone_else", entry.id) is None
        assert list(await ledger.entries_for_payment(merchant_id, intent)) == [entry]
        assert list(await ledger.entries_for_source(merchant_id, intent)) == [entry]
        assert list(await ledger.entries_for_reference(merchant_id, "cap_1")) == [entry]
        assert list(await ledger.entries_for_reference(merchant_id, "")) == []
        balance = await get_balance(ledger, merchant_id)
        transaction = await ledger.balance_transaction(merchant_id, entry.id)
    # EUR 10.00 at 1.0869 = USD 10.87 gross; fee 59 EUR cents = 64 USD cents; net 1023.
    assert balance.pending == [Money(1023, "USD")]
    assert balance.available == [Money(0, "USD")]
    assert transaction is not None
    assert (transaction.type, transaction.amount, transaction.fee, transaction.net) == (
        BalanceTransactionType.CHARGE,
        1087,
        64,
        1023,
    )
    assert transaction.exchange_rate == Decimal("1.0869")
    assert transaction.available_on == DAY0 + timedelta(days=2)  # T+2, midnight UTC


async def test_balances_sum_postings_and_read_this_transactions_writes(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    await capture(any_uow_factory, ids, merchant_id, 5000)
    await capture(any_uow_factory, ids, merchant_id, 2500)
    pending = Account.merchant(merchant_id, K.PENDING, "USD")
    fees = Account.merchant(merchant_id, K.FEES, "USD")
    untouched = Account.merchant(merchant_id, K.AVAILABLE, "JPY")
    async with any_uow_factory() as uow:
        before = await uow.ledger.balances([pending, fees, untouched])
        await LedgerHooks(ids).on_capture(
            uow, merchant_id, ids.new("pi"), 100, "USD", "card", T0, capture_reference="c"
        )
        during = await uow.ledger.balances([pending])
        accounts = await uow.ledger.merchant_accounts(merchant_id)
        # rolled back: never committed
    # fees: 2.9% + 30 = 175 and 103 (72.5 rounds half up to 73).
    assert before == {pending: -(4825 + 2397), fees: -(175 + 103), untouched: 0}
    assert during == {pending: -(4825 + 2397 + 67)}
    assert accounts == {pending: -(4825 + 2397 + 67), fees: -(175 + 103 + 33)}
    async with any_uow_factory() as uow:
        assert await uow.ledger.balances([pending]) == {pending: -(4825 + 2397)}
        assert await uow.ledger.merchant_accounts("acct_nobody") == {}


async def test_an_entry_id_is_written_once(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    entry = await capture(any_uow_factory, ids, merchant_id, 700)
    async with any_uow_factory() as uow:
        with pytest.raises(AlreadyExists):
            await uow.ledger.append(entry)


async def test_balance_transactions_page_newest_first_and_filter(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    hooks = LedgerHooks(ids)
    intent = ids.new("pi")
    first = await capture(any_uow_factory, ids, merchant_id, 1000, payment_intent_id=intent)
    second = await capture(any_uow_factory, ids, merchant_id, 2000)
    refund_id = ids.new("re")
    async with any_uow_factory() as uow:
        refund = await hooks.on_refund(uow, merchant_id, intent, refund_id, 400, "USD", at(1))
        await uow.commit()
    async with any_uow_factory() as uow:
        ledger = uow.ledger
        everything = await ledger.balance_transactions(merchant_id, limit=10)
        page = await ledger.balance_transactions(merchant_id, limit=2)
        rest = await ledger.balance_transactions(merchant_id, limit=2, starting_after=page[-1].id)
        refunds = await ledger.balance_transactions(
            merchant_id, limit=10, type=BalanceTransactionType.REFUND
        )
        by_source = await ledger.balance_transactions(merchant_id, limit=10, source=intent)
        other = await ledger.balance_transactions("acct_nobody", limit=10)
    assert [t.id for t in everything] == [refund.id, second.id, first.id]
    assert [t.id for t in page] + [t.id for t in rest] == [t.id for t in everything]
    assert [(t.id, t.amount, t.fee, t.net) for t in refunds] == [(refund.id, -400, 0, -400)]
    assert [t.id for t in by_source] == [first.id]
    assert other == []


async def test_hooks_post_refunds_and_disputes_in_the_callers_transaction(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    hooks = LedgerHooks(ids)
    intent = ids.new("pi")
    await capture(any_uow_factory, ids, merchant_id, 10_000, payment_intent_id=intent)  # net 9680
    refund_id, dispute_id = ids.new("re"), ids.new("dp")
    async with any_uow_factory() as uow:
        await hooks.on_refund(uow, merchant_id, intent, refund_id, 3000, "usd", at(1))
        with pytest.raises(InvalidArgument) as too_much:
            await hooks.on_refund(uow, merchant_id, intent, ids.new("re"), 7001, "USD", at(1))
        await hooks.on_refund_succeeded(uow, merchant_id, refund_id, at(2))
        await hooks.on_dispute_opened(uow, merchant_id, intent, dispute_id, 7000, "USD", at(3))
        await uow.commit()
    assert too_much.value.reason == "AMOUNT_TOO_LARGE"
    async with any_uow_factory() as uow:
        balance = await get_balance(uow.ledger, merchant_id)
        disputes = Account.merchant(merchant_id, K.DISPUTES, "USD")
        held = await uow.ledger.balances([disputes])
    # 9680 - 3000 refund - 7000 dispute - 1500 dispute fee: 1820 owed as a receivable.
    assert balance.pending == [Money(0, "USD")]
    assert balance.available == [Money(-1820, "USD")]
    assert held == {disputes: -7000}

    async with any_uow_factory() as uow:
        won = await hooks.on_dispute_won(uow, merchant_id, dispute_id, at(days=10))
        assert await hooks.on_dispute_won(uow, merchant_id, dispute_id, at(days=11)) == won
        with pytest.raises(FailedPrecondition):
            await hooks.on_dispute_lost(uow, merchant_id, dispute_id, at(days=11))
        await uow.commit()
    async with any_uow_factory() as uow:
        balance = await get_balance(uow.ledger, merchant_id)
    assert balance.available == [Money(7000 - 1820, "USD")]


async def test_a_refused_movement_writes_nothing(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    hooks = LedgerHooks(ids)
    async with any_uow_factory() as uow:
        with pytest.raises(FailedPrecondition) as no_charge:
            await hooks.on_refund(uow, merchant_id, ids.new("pi"), ids.new("re"), 1, "USD", T0)
        with pytest.raises(InvalidArgument):
            await hooks.on_capture(
                uow, merchant_id, ids.new("pi"), 0, "USD", "card", T0, capture_reference="c"
            )
        with pytest.raises(InvalidArgument):
            await hooks.on_capture(
                uow, merchant_id, ids.new("pi"), 10, "XXX", "card", T0, capture_reference="c"
            )
        await uow.commit()
    assert no_charge.value.reason == "CHARGE_NOT_CAPTURED"
    async with any_uow_factory() as uow:
        assert await uow.ledger.merchant_accounts(merchant_id) == {}


async def test_a_full_refund_of_a_first_charge_leaves_the_fee_as_the_merchants_debt(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    hooks = LedgerHooks(ids)
    intent = ids.new("pi")
    await capture(any_uow_factory, ids, merchant_id, 1000, payment_intent_id=intent)  # net 941
    async with any_uow_factory() as uow:
        await hooks.on_refund(uow, merchant_id, intent, ids.new("re"), 1000, "USD", at(1))
        await uow.commit()
    async with any_uow_factory() as uow:
        balances = await uow.ledger.merchant_accounts(merchant_id)
    assert sum(v for a, v in balances.items() if "receivable" in str(a)) != 0


async def test_fx_rates_are_history_served_newest_first(
    any_uow_factory: UnitOfWorkFactory,
) -> None:
    # A pair no other test uses: the rates table is shared by every merchant.
    old = FxRate("CHF", "SEK", Decimal("11.84"), RATES_AS_OF, "snb")
    new = FxRate("CHF", "SEK", Decimal("11.9"), at(hours=-1), "snb")
    async with any_uow_factory() as uow:
        added = await uow.fx_rates.add([old, new])
        again = await uow.fx_rates.add([old])  # the same value again: skipped
        with pytest.raises(FailedPrecondition) as conflict:
            await uow.fx_rates.add([replace(old, rate=Decimal("2"))])
        await uow.commit()
    assert conflict.value.reason == "FX_RATE_CONFLICT"
    assert (added, again) == (2, 0)
    async with any_uow_factory() as uow:
        rates = uow.fx_rates
        assert await rates.rate("CHF", "SEK", at=T0) == new
        assert await rates.rate("CHF", "SEK", at=at(hours=-2)) == old
        inverse = await rates.rate("SEK", "CHF", at=T0)
        assert (inverse.base, inverse.quote, inverse.source) == ("SEK", "CHF", "inverse:snb")
        assert inverse.rate == Decimal("0.0840336134454")
        with pytest.raises(FxRateUnavailable):
            await rates.rate("CHF", "SEK", at=RATES_AS_OF.replace(year=2020))
        with pytest.raises(FxRateUnavailable):
            await rates.rate("CHF", "USD", at=T0)  # never triangulated


async def test_merchant_terms_round_trip_with_their_pricing(
    any_uow_factory: UnitOfWorkFactory, merchant_id: str
) -> None:
    terms = MerchantTerms(
        settlement_currency="JPY",
        settlement_delay_days=3,
        pricing=Pricing(
            default=FeeRule(Decimal("2.5"), 25),
            by_currency={"JPY": FeeRule(Decimal("3.6"), 0)},
            by_currency_and_method={("INR", "upi"): FeeRule(Decimal("0"), 0)},
            refund_fees=True,
            dispute_fee=2000,
            dispute_fee_by_currency={"KWD": 5000},
            refund_dispute_fee_on_win=True,
        ),
        payout_schedule=PayoutSchedule.MANUAL,
        payout_minimum=500,
    )
    async with any_uow_factory() as uow:
        assert await uow.merchant_terms.get(merchant_id) == MerchantTerms()
    await set_terms(any_uow_factory, merchant_id, terms)
    async with any_uow_factory() as uow:
        assert await uow.merchant_terms.get(merchant_id) == terms
    await set_terms(any_uow_factory, merchant_id, MerchantTerms())
    async with any_uow_factory() as uow:
        assert await uow.merchant_terms.get(merchant_id) == MerchantTerms()


async def test_a_capture_settling_in_another_currency_uses_the_merchants_terms(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    await load_rates(any_uow_factory)
    await set_terms(any_uow_factory, merchant_id, MerchantTerms(settlement_currency="JPY"))
    entry = await capture(any_uow_factory, ids, merchant_id, 1000, "USD")
    assert entry.kind is EntryKind.CAPTURE
    assert entry.fx is not None and (entry.fx.base, entry.fx.quote) == ("USD", "JPY")
    async with any_uow_factory() as uow:
        balance = await get_balance(uow.ledger, merchant_id)
    # USD 10.00 = JPY 1513.7 -> 1514; fee 59 cents = 89.3083 -> 89 yen.
    assert balance.pending == [Money(1514 - 89, "JPY")]
