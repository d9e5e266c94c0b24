"""The wallet's and the net banking gateway's tables are total: every status, result code
and error reason they document has a meaning, an unknown one is a generic decline (never
an approval, never a retry elsewhere), and each simulator speaks only documented codes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.acquirers import netbanking_codes as nb
from adapters.acquirers import wallet_codes as wallet
from adapters.acquirers.redirect_connector import waiting_for
from core.payments.acquirer import AuthorizationOutcome, DeclineCode, OperationStatus
from core.payments.failover import RETRYABLE_DECLINES
from core.shared.money import Money
from sandbox.psp import netbanking_simulator, wallet_simulator

Out = AuthorizationOutcome
FAILURES = {Out.DECLINED, Out.RISK_BLOCKED, Out.PROCESSING_ERROR}


def test_every_wallet_status_and_code_is_mapped() -> None:
    assert set(wallet.STATUSES) == set(wallet.WalletStatus)
    assert set(wallet.CODES) == set(wallet.WalletCode)


def test_every_netbanking_state_and_reason_is_mapped() -> None:
    assert set(nb.STATES) == set(nb.NetBankingState)
    assert set(nb.REASONS) == set(nb.NetBankingReason)


def test_every_failure_says_why_and_nothing_else_has_a_decline_code() -> None:
    rows = [*wallet.CODES.values(), *nb.REASONS.values()]
    for outcome, decline in rows:
        assert (decline is not None) is (outcome in FAILURES), (outcome, decline)


@given(st.text(max_size=6), st.text(max_size=12))
def test_only_a_success_status_approves_a_wallet_payment(status: str, code: str) -> None:
    outcome, decline = wallet.outcome_of(status, code)
    assert (outcome is Out.APPROVED) is (status == "TXN_SUCCESS")
    if outcome is Out.DECLINED:
        assert decline is not None


@given(st.text(max_size=12), st.text(max_size=24))
def test_only_the_authorized_state_approves_a_bank_payment(state: str, reason: str) -> None:
    outcome, _ = nb.outcome_of(state, reason)
    assert (outcome is Out.APPROVED) is (state == "authorized")


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        ("TXN_FAILURE", "999", (Out.DECLINED, DeclineCode.GENERIC_DECLINE)),
        ("TXN_FAILURE", "01", (Out.DECLINED, DeclineCode.GENERIC_DECLINE)),  # never approves
        ("TXN_SUCCESS", "235", (Out.APPROVED, None)),
        ("PENDING", "400", (Out.REQUIRES_ACTION, None)),
        ("PENDING", "402", (Out.PENDING, None)),
        ("PENDING", "235", (Out.PENDING, None)),  # pending is never read as a failure
        ("REFUNDED?", "01", (Out.DECLINED, DeclineCode.GENERIC_DECLINE)),
        ("TXN_FAILURE", "810", (Out.DECLINED, DeclineCode.APPROVAL_EXPIRED)),
    ],
)
def test_wallet_statuses_with_their_codes(
    status: str, code: str, expected: tuple[Out, DeclineCode | None]
) -> None:
    assert wallet.outcome_of(status, code) == expected


def test_unknown_bank_reasons_are_generic_declines_that_are_not_retried() -> None:
    outcome, code = nb.outcome_of("failed", "cosmic_rays")
    assert (outcome, code) == (Out.DECLINED, DeclineCode.GENERIC_DECLINE)
    assert code not in RETRYABLE_DECLINES
    assert nb.outcome_of("teleported", "")[0] is Out.DECLINED


def test_the_simulators_speak_only_documented_codes() -> None:
    wallet_codes = {c.value for c in wallet.WalletCode}
    assert {d.code for d in wallet_simulator.TEST_ACCOUNTS.values()} <= wallet_codes
    books = wallet_simulator.WalletBooks
    assert {books.AWAITING, books.LATE, books.APPROVED, books.EXPIRED} <= wallet_codes
    assert {books.DECLINED_BY_PAYER, books.CANCELED} <= wallet_codes
    documented = {c.value for c in nb.NetBankingReason} | {s.value for s in nb.NetBankingState}
    assert {d.code for d in netbanking_simulator.TEST_LOGINS.values()} <= documented
    banks = netbanking_simulator.NetBankingBooks
    assert {banks.AWAITING, banks.LATE, banks.APPROVED, banks.EXPIRED} <= documented
    assert {banks.DECLINED_BY_PAYER, banks.CANCELED} <= documented


def test_the_books_codes_read_back_as_the_simulator_meant() -> None:
    code_meaning = netbanking_simulator.code_meaning
    assert code_meaning("created") == (Out.REQUIRES_ACTION, None)
    assert code_meaning("pending") == (Out.PENDING, None)
    assert code_meaning("authorized") == (Out.APPROVED, None)
    assert code_meaning("payment_cancelled") == (Out.DECLINED, DeclineCode.DECLINED_BY_PAYER)


def test_operation_statuses() -> None:
    assert wallet.operation_status_of("SUCCESS") is OperationStatus.SUCCEEDED
    assert wallet.operation_status_of("PENDING") is OperationStatus.PENDING
    assert wallet.operation_status_of("???") is OperationStatus.FAILED
    assert nb.operation_status_of("processed") is OperationStatus.SUCCEEDED
    assert nb.operation_status_of("pending") is OperationStatus.PENDING
    assert nb.operation_status_of("???") is OperationStatus.FAILED


@given(st.integers(min_value=0, max_value=10**15))
def test_wallet_amounts_round_trip_in_minor_units(amount: int) -> None:
    written = wallet.rupees(Money(amount, "INR"))
    assert Decimal(written["value"]) * 100 == amount
    assert wallet.minor_units(written) == Money(amount, "INR")


def test_a_wallet_amount_with_three_decimals_is_refused() -> None:
    with pytest.raises(ValueError, match="two decimals"):
        wallet.minor_units({"value": "1.005", "currency": "INR"})


def test_a_payment_waiting_for_the_payer_needs_a_page_to_send_them_to() -> None:
    outcome, action = waiting_for(Out.REQUIRES_ACTION, "http://127.0.0.1:1/wallet/pay/pa_1")
    assert outcome is Out.REQUIRES_ACTION and action is not None
    assert (action.type, action.url) == ("REDIRECT_TO_URL", "http://127.0.0.1:1/wallet/pay/pa_1")
    assert waiting_for(Out.REQUIRES_ACTION, "") == (Out.PENDING, None)
    assert waiting_for(Out.APPROVED, "http://127.0.0.1:1/x") == (Out.APPROVED, None)
