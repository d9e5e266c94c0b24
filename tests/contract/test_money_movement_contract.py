"""Settlement, payouts and disputes through units of work: PostgreSQL and memory agree.

On PostgreSQL the session's database is shared, so a batch may also settle other tests'
merchants; every assertion looks at this test's merchant only.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta

import pytest

from adapters.system import RandomIds
from core.access.model import Principal
from core.access.roles import Role
from core.ledger.balances import Balances
from core.ledger.disputes import Disputes
from core.ledger.model import BalanceTransactionType, MerchantTerms, PayoutSchedule
from core.ledger.payouts import CreatePayout, Payouts
from core.ledger.records import (
    AutomaticPayout,
    DisputeEvidence,
    DisputeStatus,
    PayoutMethod,
    PayoutStatus,
    SettlementStatus,
)
from core.ledger.settlement import REPORT_COLUMNS, SettlementBatch, Settlements
from core.ledger.use_cases import Bookkeeper
from core.payments.acquirer import AcquirerDispute, DisputeReason
from core.shared.errors import FailedPrecondition, InvalidArgument, NotFound
from core.shared.money import Money
from core.unit_of_work import UnitOfWorkFactory
from sandbox.acquirer.dispute_decisions import SimulatedDisputeDecisions
from tests.contract.ledger_helpers import DAY0, at, load_rates, set_terms
from tests.fakes import FixedClock
from tests.ledger_traffic import DISPUTED, PaymentsStandIn

T = BalanceTransactionType


def owner(merchant_id: str) -> Principal:
    return Principal(merchant_id, livemode=False, actor="key_contract", role=Role.OWNER)


async def test_a_day_settles_releases_what_it_left_in_pending_and_sweeps_fees(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    await load_rates(any_uow_factory)
    payments = PaymentsStandIn(any_uow_factory, ids, at())
    usd = await payments.charge(merchant_id, 10_000, "USD", at=at())  # fee 320, net 9680
    await payments.charge(merchant_id, 1000, "EUR", at=at(0.5))  # 1087 - 64 = 1023
    refund_id = await payments.refund(usd, 2000, at=at(1))  # paid from pending: none available
    await payments.charge(merchant_id, 5000, "USD", at=at(days=1))  # due a day later
    caller = owner(merchant_id)
    balances = Balances(any_uow_factory)
    assert (await balances.get(caller)).pending == [Money(9680 + 1023 - 2000 + 4825, "USD")]

    batch = SettlementBatch(any_uow_factory, ids)
    day = (DAY0 + timedelta(days=2)).date()
    now = DAY0 + timedelta(days=2, hours=1)
    with pytest.raises(InvalidArgument):
        await batch.run_settlement(day, DAY0)  # the day has not begun
    done = [s for s in await batch.run_settlement(day, now) if s.merchant_id == merchant_id]
    assert [s for s in await batch.run_settlement(day, now) if s.merchant_id == merchant_id] == []

    assert len(done) == 1
    settled = done[0]
    assert (settled.status, settled.currency, settled.day) == (
        SettlementStatus.COMPLETED,
        "USD",
        day,
    )
    totals = settled.totals
    assert (totals.count, totals.amount, totals.fee, totals.net) == (3, 9087, 384, 8703)
    assert settled.released == 8703  # 9680 + 1023 credited to pending, 2000 refunded from it
    assert settled.fees_swept == 384 + 175  # every fee charged so far, the next day's too
    assert settled.automatic_payout is AutomaticPayout.DUE
    balance = await balances.get(caller)
    assert balance.available == [Money(8703, "USD")]  # what the settlement says
    assert balance.pending == [Money(4825, "USD")]  # the capture not yet due

    settlements = Settlements(any_uow_factory)
    assert [s.id for s in (await settlements.list(caller)).data] == [settled.id]
    assert await settlements.get(caller, settled.id) == settled
    with pytest.raises(NotFound):
        await settlements.get(owner("acct_other"), settled.id)
    report = list(csv.reader(io.StringIO(await settlements.report(caller, settled.id))))
    assert tuple(report[0]) == REPORT_COLUMNS
    lines, total = report[1:-1], report[-1]
    assert [(line[2], line[3], line[7], line[8], line[9]) for line in lines] == [
        ("CHARGE", usd.payment_intent_id, "10000", "320", "9680"),
        ("CHARGE", lines[1][3], "1087", "64", "1023"),
        ("REFUND", refund_id, "-2000", "0", "-2000"),
    ]
    assert lines[1][10] == "1.0869"  # the rate the EUR capture converted at
    assert (total[1], total[2], total[7], total[8], total[9]) == (
        "3",
        "TOTAL",
        "9087",
        "384",
        "8703",
    )

    # The next day settles the last capture; then everything is available.
    next_day = await batch.run_settlement(day + timedelta(days=1), now + timedelta(days=1))
    mine = [s for s in next_day if s.merchant_id == merchant_id]
    assert [(s.totals.count, s.totals.net, s.released) for s in mine] == [(1, 4825, 4825)]
    balance = await balances.get(caller)
    assert (balance.available, balance.pending) == ([Money(13528, "USD")], [Money(0, "USD")])


async def test_automatic_payouts_pay_out_available_after_each_settlement(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    payments = PaymentsStandIn(any_uow_factory, ids, at())
    await payments.charge(merchant_id, 10_000, "USD", at=at())
    day = (DAY0 + timedelta(days=2)).date()
    now = DAY0 + timedelta(days=2, hours=1)
    await SettlementBatch(any_uow_factory, ids).run_settlement(day, now)
    payouts = Payouts(any_uow_factory, ids, FixedClock(now))
    paid = [p for p in await payouts.run_automatic_payouts(now) if p.merchant_id == merchant_id]
    assert [(p.amount, p.currency, p.method, p.status) for p in paid] == [
        (9680, "USD", PayoutMethod.AUTOMATIC, PayoutStatus.IN_TRANSIT)
    ]
    payout = paid[0]
    assert payout.arrival_date == DAY0 + timedelta(days=3)
    caller = owner(merchant_id)
    assert (await Balances(any_uow_factory).get(caller)).available == [Money(0, "USD")]
    settlement = (await Settlements(any_uow_factory).list(caller)).data[0]
    assert (settlement.automatic_payout, settlement.payout_id) == (AutomaticPayout.PAID, payout.id)
    transactions = (await Balances(any_uow_factory).transactions(caller, type=T.PAYOUT)).data
    assert [(t.id, t.net, t.source) for t in transactions] == [
        (payout.balance_transaction_id, -9680, payout.id)
    ]

    # Nothing is paid twice; the payout arrives the next day.
    assert [
        p for p in await payouts.run_automatic_payouts(now) if p.merchant_id == merchant_id
    ] == []
    await payouts.run_automatic_payouts(DAY0 + timedelta(days=3))
    assert (await payouts.get(caller, payout.id)).status is PayoutStatus.PAID


async def test_manual_payouts_never_take_available_below_zero(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    await set_terms(
        any_uow_factory, merchant_id, MerchantTerms(payout_schedule=PayoutSchedule.MANUAL)
    )
    payments = PaymentsStandIn(any_uow_factory, ids, at())
    await payments.charge(merchant_id, 10_000, "USD", at=at())
    now = DAY0 + timedelta(days=2, hours=1)
    await SettlementBatch(any_uow_factory, ids).run_settlement(now.date(), now)
    payouts = Payouts(any_uow_factory, ids, FixedClock(now))
    assert [
        p for p in await payouts.run_automatic_payouts(now) if p.merchant_id == merchant_id
    ] == []
    caller = owner(merchant_id)
    settlement = (await Settlements(any_uow_factory).list(caller)).data[0]
    assert settlement.automatic_payout is AutomaticPayout.SKIPPED

    with pytest.raises(FailedPrecondition) as short:
        await payouts.create(caller, CreatePayout(amount=9681, currency="usd"))
    assert short.value.reason == "BALANCE_INSUFFICIENT"
    assert short.value.metadata["available"] == "9680"
    for bad, field in ((CreatePayout(0, "usd"), "amount"), (CreatePayout(5, "xx"), "currency")):
        with pytest.raises(InvalidArgument) as invalid:
            await payouts.create(caller, bad)
        assert invalid.value.metadata["param"] == field

    first = await payouts.create(caller, CreatePayout(6000, "USD", "weekly"))
    second = await payouts.create(caller, CreatePayout(3680, "USD"))
    with pytest.raises(FailedPrecondition):
        await payouts.create(caller, CreatePayout(1, "USD"))
    assert (first.method, first.amount, first.description) == (PayoutMethod.MANUAL, 6000, "weekly")
    listed = await payouts.list(caller, limit=1)
    assert ([p.id for p in listed.data], listed.has_more) == ([second.id], True)
    assert (await payouts.list(caller, starting_after=second.id)).data == [first]
    assert (await Balances(any_uow_factory).get(caller)).available == [Money(0, "USD")]
    with pytest.raises(NotFound):
        await payouts.get(owner("acct_other"), first.id)


async def test_a_disputed_capture_opens_a_dispute_that_evidence_wins(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    payments = PaymentsStandIn(any_uow_factory, ids, at())
    charge = await payments.charge(merchant_id, 10_000, "USD", at=at(), card=DISPUTED)
    await payments.charge(merchant_id, 2000, "USD", at=at(1))  # not disputed
    clock = FixedClock(at(2))
    disputes = Disputes(any_uow_factory, ids, clock, SimulatedDisputeDecisions())
    ingested = await disputes.ingest(payments.acquirer)
    assert ingested.unmatched == [] and ingested.cursor == 1
    assert len(ingested.opened) == 1
    dispute = ingested.opened[0]
    assert (dispute.payment_intent_id, dispute.amount, dispute.currency, dispute.reason) == (
        charge.payment_intent_id,
        10_000,
        "USD",
        "fraudulent",
    )
    assert dispute.status is DisputeStatus.NEEDS_RESPONSE
    assert dispute.evidence_due_by == at(days=7)  # opened at the capture, by the network
    again = await disputes.ingest(payments.acquirer)
    assert (again.opened, again.unmatched) == ([], [])

    caller = owner(merchant_id)
    balances = Balances(any_uow_factory)
    # 9680 + 1912 pending, less 10000 disputed and the 1500 dispute fee.
    assert (await balances.get(caller)).pending == [Money(9680 + 1912 - 11_500, "USD")]
    (opened_txn,) = (await balances.transactions(caller, type=T.DISPUTE)).data
    assert (opened_txn.amount, opened_txn.fee, opened_txn.net) == (-10_000, 1500, -11_500)

    with pytest.raises(InvalidArgument):
        await disputes.submit_evidence(caller, dispute.id, DisputeEvidence())
    with pytest.raises(NotFound):
        await disputes.submit_evidence(
            owner("acct_other"), dispute.id, DisputeEvidence(receipt="r")
        )
    clock.at = at(days=1)
    evidence = DisputeEvidence(receipt="receipt #1042", product_description="a lamp")
    answered = await disputes.submit_evidence(caller, dispute.id, evidence)
    assert (answered.status, answered.decide_at) == (DisputeStatus.UNDER_REVIEW, at(days=2))
    with pytest.raises(FailedPrecondition) as twice:
        await disputes.submit_evidence(caller, dispute.id, evidence)
    assert twice.value.reason == "DISPUTE_NOT_ACCEPTING_EVIDENCE"
    assert (await disputes.get(caller, dispute.id)).evidence == evidence

    assert [
        d for d in await disputes.resolve_due_disputes(at(days=1.5)) if d.merchant_id == merchant_id
    ] == []
    won = [
        d for d in await disputes.resolve_due_disputes(at(days=2)) if d.merchant_id == merchant_id
    ]
    assert [(d.id, d.status) for d in won] == [(dispute.id, DisputeStatus.WON)]
    assert len(won[0].balance_transactions) == 2
    # The amount comes back (to available: a credit repays receivable first); the fee stays.
    balance = await balances.get(caller)
    assert balance.available == [Money(10_000 - 0, "USD")]
    assert balance.pending == [Money(9680 + 1912 - 11_500, "USD")]
    listed = await disputes.list(caller)
    assert [(d.id, d.status) for d in listed.data] == [(dispute.id, DisputeStatus.WON)]


async def test_a_dispute_without_evidence_is_lost_at_its_due_date(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    payments = PaymentsStandIn(any_uow_factory, ids, at())
    await payments.charge(merchant_id, 3000, "USD", at=at(), card=DISPUTED)
    disputes = Disputes(any_uow_factory, ids, FixedClock(at(1)), SimulatedDisputeDecisions())
    (dispute,) = (await disputes.ingest(payments.acquirer)).opened
    lost = [
        d for d in await disputes.resolve_due_disputes(at(days=8)) if d.merchant_id == merchant_id
    ]
    assert [(d.id, d.status, d.closed_at) for d in lost] == [
        (dispute.id, DisputeStatus.LOST, at(days=8))
    ]
    assert lost[0].balance_transactions == dispute.balance_transactions  # no second one
    clock_late = Disputes(any_uow_factory, ids, FixedClock(at(days=9)), SimulatedDisputeDecisions())
    with pytest.raises(FailedPrecondition):
        await clock_late.submit_evidence(
            owner(merchant_id), dispute.id, DisputeEvidence(receipt="r")
        )
    # 3000 - 117 fee = 2883 pending; 3000 + 1500 withdrawn: 1617 owed.
    balance = await Balances(any_uow_factory).get(owner(merchant_id))
    assert balance.available == [Money(-1617, "USD")]


async def test_a_dispute_the_ledger_cannot_place_is_reported_not_opened(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    class Feed:
        async def disputes_since(self, sequence: int = 0) -> list[AcquirerDispute]:
            return [
                AcquirerDispute(
                    sequence=7,
                    dispute_reference=f"simnet_dp_{ids.secret(6)}",
                    attempt_reference="pa_unknown",
                    capture_reference="pa_unknown_cap1",
                    merchant_id=merchant_id,
                    amount=Money(100, "USD"),
                    reason=DisputeReason.FRAUDULENT,
                    opened_at=at(),
                )
            ]

    disputes = Disputes(any_uow_factory, ids, FixedClock(at()), SimulatedDisputeDecisions())
    result = await disputes.ingest(Feed())
    assert (result.opened, len(result.unmatched), result.cursor) == ([], 1, 7)
    assert (await disputes.list(owner(merchant_id))).data == []


async def test_two_workers_ingesting_the_same_feed_open_each_dispute_once(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    payments = PaymentsStandIn(any_uow_factory, ids, at())
    await payments.charge(merchant_id, 10_000, "USD", at=at(), card=DISPUTED)
    clock = FixedClock(at(2))
    runs = [Disputes(any_uow_factory, ids, clock, SimulatedDisputeDecisions()) for _ in (1, 2)]
    # Both read "not known yet" before either commits; the later one finds the charge
    # already disputed once it holds the funds' lock, and must skip, not fail.
    results = await asyncio.gather(*(run.ingest(payments.acquirer) for run in runs))
    assert sum(len(result.opened) for result in results) == 1
    assert len((await runs[0].list(owner(merchant_id))).data) == 1
    (held,) = (
        await Balances(any_uow_factory).transactions(owner(merchant_id), type=T.DISPUTE)
    ).data
    assert held.amount == -10_000


async def test_test_money_and_live_money_settle_and_pay_out_apart(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    payments = PaymentsStandIn(any_uow_factory, ids, at())
    await payments.charge(merchant_id, 10_000, "USD", at=at())
    live_charge = await payments.charge(merchant_id, 1_000, "USD", at=at(1), livemode=True)
    assert live_charge.entry.livemode
    assert all(p.account.livemode for p in live_charge.entry.postings)
    test, live = (
        owner(merchant_id),
        Principal(merchant_id, livemode=True, actor="key_contract_live", role=Role.OWNER),
    )
    balances = Balances(any_uow_factory)
    assert (await balances.get(test)).pending == [Money(9680, "USD")]
    assert (await balances.get(live)).pending == [Money(941, "USD")]
    assert [t.net for t in (await balances.transactions(live)).data] == [941]
    assert [t.net for t in (await balances.transactions(test)).data] == [9680]
    assert ((await balances.get(live)).livemode, (await balances.get(test)).livemode) == (
        True,
        False,
    )
    assert [t.livemode for t in (await balances.transactions(live)).data] == [True]

    day = (DAY0 + timedelta(days=2)).date()
    now = DAY0 + timedelta(days=2, hours=1)
    settled = [
        s
        for s in await SettlementBatch(any_uow_factory, ids).run_settlement(day, now)
        if s.merchant_id == merchant_id
    ]
    assert sorted((s.livemode, s.totals.net) for s in settled) == [(False, 9680), (True, 941)]
    settlements = Settlements(any_uow_factory)
    [live_settlement] = (await settlements.list(live)).data
    [test_settlement] = (await settlements.list(test)).data
    assert (live_settlement.livemode, test_settlement.livemode) == (True, False)
    with pytest.raises(NotFound):
        await settlements.get(test, live_settlement.id)
    with pytest.raises(NotFound):
        await settlements.report(live, test_settlement.id)
    # A report's lines say their settlement's mode.
    async with any_uow_factory() as uow:
        live_lines = await uow.settlements.lines(merchant_id, live_settlement.id)
        test_lines = await uow.settlements.lines(merchant_id, test_settlement.id)
    assert [t.livemode for t in live_lines + test_lines] == [True] + [False] * len(test_lines)

    payouts = Payouts(any_uow_factory, ids, FixedClock(now))
    paid = [p for p in await payouts.run_automatic_payouts(now) if p.merchant_id == merchant_id]
    # A live payout never includes test money, nor a test payout live money.
    assert sorted((p.livemode, p.amount) for p in paid) == [(False, 9680), (True, 941)]
    [live_payout] = (await payouts.list(live)).data
    assert (live_payout.livemode, live_payout.amount) == (True, 941)
    with pytest.raises(NotFound):
        await payouts.get(test, live_payout.id)
    assert (await balances.get(live)).available == [Money(0, "USD")]
    assert (await balances.get(test)).available == [Money(0, "USD")]

    # Test money available does not fund a live payout.
    async with any_uow_factory() as uow:
        await Bookkeeper(uow.fx_rates, ids, FixedClock(now)).adjustment(
            uow.ledger,
            merchant_id=merchant_id,
            source="adj_test_credit",
            amount=Money(500, "USD"),
            description="test credit",
        )
        await uow.commit()
    with pytest.raises(FailedPrecondition) as refused:
        await payouts.create(live, CreatePayout(amount=1, currency="usd"))
    assert refused.value.reason == "BALANCE_INSUFFICIENT"
    sent = await payouts.create(test, CreatePayout(amount=500, currency="usd"))
    assert (sent.livemode, sent.amount) == (False, 500)
