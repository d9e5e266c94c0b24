"""Test money and live money are two books: accounts, entries and every movement that
follows a charge stay in the charge's mode; balances and payouts see one mode only."""

from __future__ import annotations

import pytest

from core.ledger.accounts import Account, AccountKind
from core.ledger.errors import UnbalancedEntry
from core.ledger.model import EntryKind, JournalEntry, MerchantTerms, Posting
from core.ledger.use_cases import Bookkeeper, get_balance, list_balance_transactions
from core.shared.errors import FailedPrecondition
from core.shared.money import Money
from tests.fakes.ledger import MemoryFxRates, MemoryLedgerRepository
from tests.unit.ledger.support import T0, SequentialIds, SteppingClock, full_rate_table

M = "acct_modes"
K = AccountKind
TERMS = MerchantTerms()


@pytest.fixture
def keeper() -> Bookkeeper:
    return Bookkeeper(MemoryFxRates(full_rate_table()), SequentialIds(), SteppingClock())


async def _capture(
    keeper: Bookkeeper, ledger: MemoryLedgerRepository, intent: str, amount: int, live: bool
) -> JournalEntry:
    return await keeper.capture(
        ledger,
        TERMS,
        merchant_id=M,
        payment_intent_id=intent,
        amount=Money(amount, "USD"),
        payment_method="card",
        reference=f"cap_{intent}",
        livemode=live,
    )


def test_a_live_account_is_its_test_account_behind_live() -> None:
    test = Account.merchant(M, K.AVAILABLE, "USD")
    live = Account.merchant(M, K.AVAILABLE, "USD", livemode=True)
    assert (test.code, live.code) == (
        f"merchant:{M}:available:USD",
        f"live:merchant:{M}:available:USD",
    )
    assert Account.parse(live.code) == live and Account.parse(test.code) == test
    platform = Account.platform(K.FX, "EUR", livemode=True)
    assert Account.parse(platform.code) == platform != Account.platform(K.FX, "EUR")
    assert live.code.startswith(Account.merchant_prefix(M, True))
    assert not live.code.startswith(Account.merchant_prefix(M, False))


def test_an_entry_cannot_move_money_between_modes() -> None:
    with pytest.raises(UnbalancedEntry, match="mode"):
        JournalEntry(
            id=SequentialIds().new("txn"),
            kind=EntryKind.ADJUSTMENT,
            merchant_id=M,
            source="adj",
            postings=(
                Posting(Account.platform(K.ADJUSTMENTS, "USD"), 100),
                Posting(Account.merchant(M, K.AVAILABLE, "USD", livemode=True), -100),
            ),
            created=T0,
        )


async def test_balance_and_balance_transactions_are_per_mode(keeper: Bookkeeper) -> None:
    ledger = MemoryLedgerRepository()
    await _capture(keeper, ledger, "pi_test", 10_000, live=False)
    live = await _capture(keeper, ledger, "pi_live", 1_000, live=True)
    assert live.livemode and all(p.account.livemode for p in live.postings)
    assert (await get_balance(ledger, M)).pending == [Money(9680, "USD")]
    assert (await get_balance(ledger, M, livemode=True)).pending == [Money(941, "USD")]
    live_page = await list_balance_transactions(ledger, M, livemode=True)
    assert [(t.id, t.livemode) for t in live_page.data] == [(live.id, True)]
    test_page = await list_balance_transactions(ledger, M)
    assert [t.net for t in test_page.data] == [9680]


async def test_refunds_and_disputes_inherit_the_charge_mode(keeper: Bookkeeper) -> None:
    ledger = MemoryLedgerRepository()
    await _capture(keeper, ledger, "pi_test", 5_000, live=False)
    await _capture(keeper, ledger, "pi_live", 3_000, live=True)
    refund = await keeper.refund(
        ledger,
        TERMS,
        merchant_id=M,
        payment_intent_id="pi_live",
        refund_id="re_live",
        amount=Money(1_000, "USD"),
    )
    dispute = await keeper.dispute_opened(
        ledger, TERMS, merchant_id=M, payment_intent_id="pi_live", dispute_id="dp_live"
    )
    won = await keeper.dispute_closed(ledger, TERMS, merchant_id=M, dispute_id="dp_live", won=True)
    bounced = await keeper.refund_outcome(
        ledger, merchant_id=M, refund_id="re_live", succeeded=False
    )
    for entry in (refund, dispute, won, bounced):
        assert entry.livemode and all(p.account.livemode for p in entry.postings), entry.kind
    # The test book never saw any of it.
    assert (await get_balance(ledger, M)).pending == [Money(4825, "USD")]
    book = ledger.book.recomputed_balances()
    for live in (False, True):
        per_currency: dict[str, int] = {}
        for account, raw in book.items():
            if account.livemode == live:
                per_currency[account.currency] = per_currency.get(account.currency, 0) + raw
        assert set(per_currency.values()) <= {0}, (live, per_currency)


async def test_a_live_payout_excludes_test_money(keeper: Bookkeeper) -> None:
    ledger = MemoryLedgerRepository()
    await _capture(keeper, ledger, "pi_test", 10_000, live=False)
    await _capture(keeper, ledger, "pi_live", 1_000, live=True)
    for live in (False, True):
        await keeper.release_pending(
            ledger, merchant_id=M, source="st_1", due=Money(100_000, "USD"), livemode=live
        )
    paid = await keeper.payout(
        ledger, merchant_id=M, payout_id="po_live", currency="USD", livemode=True
    )
    assert paid.livemode
    assert paid.raw(Account.merchant(M, K.AVAILABLE, "USD", livemode=True)) == 941
    with pytest.raises(FailedPrecondition) as refused:
        await keeper.payout(
            ledger, merchant_id=M, payout_id="po_live2", currency="USD", amount=1, livemode=True
        )
    assert refused.value.reason == "BALANCE_INSUFFICIENT"
    assert (await get_balance(ledger, M)).available == [Money(9680, "USD")]
