"""The Bookkeeper against the in-memory ledger: rates, fees, locks and replays wired up."""

from __future__ import annotations

import pytest

from core.ledger.fees import Pricing
from core.ledger.fx import RateTable
from core.ledger.model import BalanceTransactionType, EntryKind, MerchantTerms
from core.ledger.use_cases import Bookkeeper, get_balance, list_balance_transactions
from core.shared.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from core.shared.money import Money
from tests.fakes.ledger import MemoryFxRates, MemoryLedgerRepository, MemoryMerchantTerms
from tests.unit.ledger.support import SequentialIds, SteppingClock, full_rate_table

M = "acct_m"


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def keeper(clock: SteppingClock) -> Bookkeeper:
    return Bookkeeper(MemoryFxRates(full_rate_table()), SequentialIds(), clock)


@pytest.fixture
def ledger() -> MemoryLedgerRepository:
    return MemoryLedgerRepository()


async def test_capture_refund_and_balance(
    keeper: Bookkeeper, ledger: MemoryLedgerRepository
) -> None:
    terms = MerchantTerms(settlement_currency="USD", pricing=Pricing(refund_fees=True))
    capture = await keeper.capture(
        ledger,
        terms,
        merchant_id=M,
        payment_intent_id="pi_1",
        amount=Money(1000, "EUR"),
        payment_method="card",
    )
    assert capture.fx is not None and (capture.fx.base, capture.fx.quote) == ("EUR", "USD")
    balance = await get_balance(ledger, M)
    assert balance.available == [Money(0, "USD")]
    assert balance.pending == [Money(1023, "USD")]  # 1087 gross - 64 fee

    refund = await keeper.refund(
        ledger,
        terms,
        merchant_id=M,
        payment_intent_id="pi_1",
        refund_id="re_1",
        amount=Money(1000, "EUR"),
    )
    assert refund.kind is EntryKind.REFUND
    assert (await get_balance(ledger, M)).pending == [Money(0, "USD")]
    with pytest.raises(InvalidArgument) as caught:
        await keeper.refund(
            ledger,
            terms,
            merchant_id=M,
            payment_intent_id="pi_1",
            refund_id="re_2",
            amount=Money(1, "EUR"),
        )
    assert caught.value.reason == "AMOUNT_TOO_LARGE"

    succeeded = await keeper.refund_outcome(ledger, merchant_id=M, refund_id="re_1", succeeded=True)
    replay = await keeper.refund_outcome(ledger, merchant_id=M, refund_id="re_1", succeeded=True)
    assert replay == succeeded
    with pytest.raises(FailedPrecondition):
        await keeper.refund_outcome(ledger, merchant_id=M, refund_id="re_1", succeeded=False)
    with pytest.raises(NotFound):
        await keeper.refund_outcome(ledger, merchant_id=M, refund_id="re_9", succeeded=False)


async def test_refund_needs_a_capture(keeper: Bookkeeper, ledger: MemoryLedgerRepository) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        await keeper.refund(
            ledger,
            MerchantTerms(),
            merchant_id=M,
            payment_intent_id="pi_x",
            refund_id="re_1",
            amount=Money(1, "USD"),
        )
    assert caught.value.reason == "CHARGE_NOT_CAPTURED"


async def test_dispute_release_and_payout(
    keeper: Bookkeeper, ledger: MemoryLedgerRepository, clock: SteppingClock
) -> None:
    terms = MerchantTerms()
    await keeper.capture(
        ledger,
        terms,
        merchant_id=M,
        payment_intent_id="pi_1",
        amount=Money(10000, "USD"),
        payment_method="card",
    )
    with pytest.raises(FailedPrecondition) as caught:
        await keeper.payout(ledger, merchant_id=M, payout_id="po_1", currency="USD")
    assert caught.value.reason == "BALANCE_INSUFFICIENT"

    clock.advance(days=2)
    released = await keeper.release_pending(
        ledger, merchant_id=M, source="st_1", due=Money(9680, "USD")
    )
    assert released is not None
    assert (await get_balance(ledger, M)).available == [Money(9680, "USD")]

    opened = await keeper.dispute_opened(
        ledger, terms, merchant_id=M, payment_intent_id="pi_1", dispute_id="dp_1"
    )
    assert opened.presentment == Money(10000, "USD")  # the whole charge by default
    assert (await get_balance(ledger, M)).available == [Money(9680 - 10000 - 1500, "USD")]
    won = await keeper.dispute_closed(ledger, terms, merchant_id=M, dispute_id="dp_1", won=True)
    assert won.kind is EntryKind.DISPUTE_WON
    assert (await get_balance(ledger, M)).available == [Money(9680 - 1500, "USD")]

    payout = await keeper.payout(ledger, merchant_id=M, payout_id="po_1", currency="USD")
    assert payout.raw(payout.postings[0].account) == 8180
    assert (await get_balance(ledger, M)).available == [Money(0, "USD")]
    await keeper.payout_failed(ledger, merchant_id=M, payout_id="po_1")
    assert (await get_balance(ledger, M)).available == [Money(8180, "USD")]

    page = await list_balance_transactions(ledger, M, limit=3)
    assert [t.type for t in page.data] == [
        BalanceTransactionType.PAYOUT,
        BalanceTransactionType.PAYOUT,
        BalanceTransactionType.DISPUTE,
    ]
    assert page.has_more
    rest = await list_balance_transactions(ledger, M, starting_after=page.data[-1].id)
    assert [t.type for t in rest.data] == [
        BalanceTransactionType.DISPUTE,
        BalanceTransactionType.CHARGE,
    ]
    assert not rest.has_more
    charges = await list_balance_transactions(ledger, M, type=BalanceTransactionType.CHARGE)
    assert [t.source for t in charges.data] == ["pi_1"]
    with pytest.raises(InvalidArgument):
        await list_balance_transactions(ledger, M, limit=101)


async def test_fee_and_adjustment(keeper: Bookkeeper, ledger: MemoryLedgerRepository) -> None:
    await keeper.fee(ledger, merchant_id=M, source="po_1", amount=Money(25, "JPY"))
    assert (await get_balance(ledger, M)).available == [Money(-25, "JPY")]
    await keeper.adjustment(
        ledger, merchant_id=M, source="ops-1", amount=Money(100, "JPY"), description="goodwill"
    )
    assert (await get_balance(ledger, M)).available == [Money(75, "JPY")]


async def test_without_a_rate_a_capture_stays_in_its_own_currency(clock: SteppingClock) -> None:
    keeper = Bookkeeper(MemoryFxRates(RateTable([])), SequentialIds(), clock)
    ledger = MemoryLedgerRepository()
    entry = await keeper.capture(
        ledger,
        MerchantTerms(),  # settles in USD, but no EUR->USD rate is known
        merchant_id=M,
        payment_intent_id="pi_1",
        amount=Money(1000, "EUR"),
        payment_method="card",
    )
    assert {p.account.currency for p in entry.postings} == {"EUR"}
    assert entry.fx is None


async def test_terms_default_to_usd_settlement() -> None:
    terms = MemoryMerchantTerms({"acct_k": MerchantTerms(settlement_currency="KWD")})
    assert (await terms.get("acct_new")).settlement_currency == "USD"
    assert (await terms.get("acct_k")).settlement_currency == "KWD"


async def test_a_lost_dispute_goes_to_the_acquirer_once(
    keeper: Bookkeeper, ledger: MemoryLedgerRepository
) -> None:
    terms = MerchantTerms(settlement_currency="KWD")
    await keeper.capture(
        ledger,
        terms,
        merchant_id=M,
        payment_intent_id="pi_1",
        amount=Money(10000, "JPY"),
        payment_method="card",
    )
    opened = await keeper.dispute_opened(
        ledger,
        terms,
        merchant_id=M,
        payment_intent_id="pi_1",
        dispute_id="dp_1",
        amount=Money(4000, "JPY"),
    )
    assert opened.fx is not None and (opened.fx.base, opened.fx.quote) == ("JPY", "KWD")
    lost = await keeper.dispute_closed(ledger, terms, merchant_id=M, dispute_id="dp_1", won=False)
    assert lost.kind is EntryKind.DISPUTE_LOST
    again = await keeper.dispute_closed(ledger, terms, merchant_id=M, dispute_id="dp_1", won=False)
    assert again == lost
    with pytest.raises(FailedPrecondition) as caught:
        await keeper.dispute_closed(ledger, terms, merchant_id=M, dispute_id="dp_1", won=True)
    assert caught.value.reason == "LEDGER_ALREADY_CLOSED"
    with pytest.raises(InvalidArgument):  # 6000 yen are left to refund
        await keeper.refund(
            ledger,
            terms,
            merchant_id=M,
            payment_intent_id="pi_1",
            refund_id="re_1",
            amount=Money(6001, "JPY"),
        )


async def test_the_memory_ledger_refuses_a_second_entry_with_the_same_id(
    keeper: Bookkeeper, ledger: MemoryLedgerRepository
) -> None:
    entry = await keeper.fee(ledger, merchant_id=M, source="x", amount=Money(5, "USD"))
    with pytest.raises(AlreadyExists):
        await ledger.append(entry)
    assert len(ledger.book.entries) == 1
    assert await ledger.get(M, entry.id) == entry
    assert await ledger.get("acct_other", entry.id) is None
    assert await ledger.balance_transaction(M, entry.id) is not None
    assert await ledger.balance_transaction("acct_other", entry.id) is None
