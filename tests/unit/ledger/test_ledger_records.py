"""Settlement, payout and dispute records, the settlement report, and the hooks' checks."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from core.ledger.hooks import FixedClock, LedgerHooks
from core.ledger.model import BalanceTransaction, BalanceTransactionType
from core.ledger.records import (
    Dispute,
    DisputeEvidence,
    DisputeOutcome,
    DisputeStatus,
    DueTransaction,
    Payout,
    Settlement,
    midnight,
)
from core.ledger.settlement import report_csv
from core.shared.errors import FailedPrecondition
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory
from tests.unit.ledger.support import SequentialIds

T = datetime(2026, 3, 3, 10, tzinfo=UTC)


def transaction(
    net: int, type: BalanceTransactionType = BalanceTransactionType.CHARGE, **kw: object
) -> BalanceTransaction:
    fields: dict[str, object] = {
        "id": f"txn_{net}", "merchant_id": "acct_m", "type": type, "amount": net, "fee": 0,
        "net": net, "currency": "USD", "source": "pi_1", "available_on": T, "created": T,
    }  # fmt: skip
    fields.update(kw)
    return BalanceTransaction(**fields)  # type: ignore[arg-type]


def test_a_settlement_releases_what_its_lines_left_in_pending_never_less_than_zero() -> None:
    charge, refund = transaction(9680), transaction(-2000, BalanceTransactionType.REFUND)
    assert (
        Settlement.to_release([DueTransaction(charge, 9680), DueTransaction(refund, -2000)]) == 7680
    )
    assert Settlement.to_release([DueTransaction(refund, -2000)]) == 0
    assert Settlement.to_release([DueTransaction(refund, 0)]) == 0  # paid from available


def test_a_settlement_completes_once() -> None:
    settlement = Settlement(
        "st_1", "acct_m", "USD", date(2026, 3, 5), midnight(date(2026, 3, 5)), T
    )
    done = settlement.completed(
        [transaction(100), transaction(-30)], released=100, fees_swept=3, at=T
    )
    assert (done.totals.count, done.totals.net, done.released) == (2, 70, 100)
    with pytest.raises(FailedPrecondition):
        done.completed([], released=0, fees_swept=0, at=T)


def test_the_report_neutralises_spreadsheet_formulas_and_totals_the_lines() -> None:
    settlement = Settlement(
        "st_1", "acct_m", "USD", date(2026, 3, 5), midnight(date(2026, 3, 5)), T
    )
    lines = [
        transaction(100, description='=HYPERLINK("http://x")'),
        transaction(-40, BalanceTransactionType.ADJUSTMENT, id="txn_b", source="+1 goodwill"),
    ]
    done = settlement.completed(lines, released=100, fees_swept=0, at=T)
    rows = list(csv.reader(io.StringIO(report_csv(done, lines))))
    assert rows[1][11] == '\'=HYPERLINK("http://x")'
    assert rows[2][3] == "'+1 goodwill"
    assert rows[2][7] == "-40"  # numbers keep their sign
    assert rows[-1][1:3] == ["2", "TOTAL"] and rows[-1][9] == "60"
    assert rows[1][4] == "2026-03-03T10:00:00Z"


def test_payouts_arrive_at_midnight_the_next_day() -> None:
    assert Payout.arrival_for(T) == datetime(2026, 3, 4, tzinfo=UTC)


def _dispute() -> Dispute:
    return Dispute(
        id="dp_1", merchant_id="acct_m", payment_intent_id="pi_1", amount=100, currency="USD",
        reason="fraudulent", status=DisputeStatus.NEEDS_RESPONSE, created=T,
        evidence_due_by=T + timedelta(days=7), decide_at=T + timedelta(days=7),
        acquirer_reference="simnet_dp_1", balance_transactions=("txn_open",),
    )  # fmt: skip


def test_a_dispute_takes_evidence_once_and_before_it_is_due() -> None:
    evidence = DisputeEvidence(receipt="r")
    answered = _dispute().with_evidence(
        evidence, at=T + timedelta(days=1), review=timedelta(days=1)
    )
    assert (answered.status, answered.decide_at) == (
        DisputeStatus.UNDER_REVIEW,
        T + timedelta(days=2),
    )
    with pytest.raises(FailedPrecondition):
        answered.with_evidence(evidence, at=T + timedelta(days=1), review=timedelta(days=1))
    with pytest.raises(FailedPrecondition) as late:
        _dispute().with_evidence(evidence, at=T + timedelta(days=8), review=timedelta(days=1))
    assert late.value.reason == "DISPUTE_EVIDENCE_PAST_DUE"


def test_a_closed_dispute_stays_closed() -> None:
    won = _dispute().closed(DisputeOutcome.WON, at=T, transaction_id="txn_won")
    assert won.balance_transactions == ("txn_open", "txn_won")
    lost = _dispute().closed(DisputeOutcome.LOST, at=T, transaction_id="")
    assert (lost.status, lost.balance_transactions) == (DisputeStatus.LOST, ("txn_open",))
    with pytest.raises(FailedPrecondition):
        won.closed(DisputeOutcome.LOST, at=T, transaction_id="")


async def test_a_capture_must_name_its_acquirer_reference() -> None:
    uow = MemoryUnitOfWorkFactory()
    async with uow() as unit:
        with pytest.raises(ValueError, match="capture_reference"):
            await LedgerHooks(SequentialIds()).on_capture(
                unit, "acct_m", "pi_1", 100, "USD", "card", T, capture_reference=""
            )
    with pytest.raises(ValueError):
        FixedClock(datetime(2026, 3, 3))  # naive
