"""Every object of the book says its mode: the core object's mode reaches the message."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core.ledger.accounts import Account, AccountKind
from core.ledger.model import BalanceTransaction, BalanceTransactionType
from core.ledger.projections import merchant_balance
from core.ledger.records import (
    Dispute,
    DisputeStatus,
    Payout,
    PayoutMethod,
    PayoutStatus,
    Settlement,
)
from core.payments.model import Refund, RefundStatus
from servers.grpc import convert, ledger_convert
from servers.stripe import render

AT = datetime(2026, 3, 3, 12, tzinfo=UTC)


def _refund(livemode: bool) -> Refund:
    return Refund(
        id="re_1",
        merchant_id="acct_1",
        payment_intent_id="pi_1",
        attempt_id="pa_1",
        amount=500,
        currency="USD",
        status=RefundStatus.SUCCEEDED,
        created=AT,
        updated_at=AT,
        livemode=livemode,
    )


def _payout(livemode: bool) -> Payout:
    return Payout(
        id="po_1",
        merchant_id="acct_1",
        amount=900,
        currency="USD",
        status=PayoutStatus.IN_TRANSIT,
        method=PayoutMethod.MANUAL,
        created=AT,
        arrival_date=Payout.arrival_for(AT),
        balance_transaction_id="txn_po",
        livemode=livemode,
    )


def _dispute(livemode: bool) -> Dispute:
    return Dispute(
        id="dp_1",
        merchant_id="acct_1",
        payment_intent_id="pi_1",
        amount=1000,
        currency="USD",
        reason="fraudulent",
        status=DisputeStatus.NEEDS_RESPONSE,
        created=AT,
        evidence_due_by=AT,
        decide_at=AT,
        acquirer_reference="acq_dp_1",
        livemode=livemode,
    )


def _settlement(livemode: bool) -> Settlement:
    return Settlement(
        id="st_1",
        merchant_id="acct_1",
        currency="USD",
        day=date(2026, 3, 4),
        cutoff=datetime(2026, 3, 4, tzinfo=UTC),
        created=AT,
        livemode=livemode,
    )


def _transaction(livemode: bool) -> BalanceTransaction:
    return BalanceTransaction(
        id="txn_1",
        merchant_id="acct_1",
        type=BalanceTransactionType.CHARGE,
        amount=1000,
        fee=59,
        net=941,
        currency="USD",
        source="pi_1",
        available_on=AT,
        created=AT,
        livemode=livemode,
    )


@pytest.mark.parametrize("livemode", [True, False])
def test_each_ledger_message_carries_the_mode_of_its_object(livemode: bool) -> None:
    messages = [
        convert.refund(_refund(livemode)),
        ledger_convert.payout(_payout(livemode)),
        ledger_convert.dispute(_dispute(livemode)),
        ledger_convert.settlement(_settlement(livemode)),
        ledger_convert.balance_transaction(_transaction(livemode)),
    ]
    assert [m.livemode for m in messages] == [livemode] * len(messages)
    # The rest of the message is unchanged by the mode.
    other = convert.refund(_refund(not livemode))
    other.livemode = livemode
    assert other == messages[0]


@pytest.mark.parametrize("livemode", [True, False])
def test_the_balance_says_which_modes_book_it_sums(livemode: bool) -> None:
    account = Account.merchant("acct_1", AccountKind.AVAILABLE, "USD", livemode)
    balance = merchant_balance({account: -700}, livemode)
    message = ledger_convert.balance(balance)
    assert message.livemode is livemode
    assert [(a.amount, a.currency) for a in message.available] == [(700, "USD")]
    # The Stripe-compatible balance reads the mode from the message, not a constant.
    assert render.balance(render.as_json(message))["livemode"] is livemode


def test_a_test_mode_message_renders_livemode_false_in_json() -> None:
    # Proto3 drops a false bool from the wire; the JSON rendering still shows the field.
    rendered = render.as_json(ledger_convert.payout(_payout(False)))
    assert rendered["livemode"] is False
