"""The code tables are total, and no code but success approves."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.payments.acquirer import AuthorizationOutcome, DeclineCode, OperationStatus
from sandbox.acquirer import card_network_transformers as card
from sandbox.acquirer import upi_transformers as upi
from sandbox.acquirer.card_network_simulator import TEST_CARDS
from sandbox.acquirer.simulation import CodeMeaning

Out = AuthorizationOutcome


def test_card_network_table_is_total() -> None:
    assert set(card.NETWORK_CODES) == set(card.NetworkCode)


def test_three_ds_table_is_total() -> None:
    assert set(card.THREE_DS_RESULTS) == set(card.ThreeDSStatus)


def test_upi_table_is_total() -> None:
    assert set(upi.UPI_CODES) == set(upi.UpiCode)


def _rows() -> list[CodeMeaning]:
    three_ds = [m for m in card.THREE_DS_RESULTS.values() if m is not None]
    return [*card.NETWORK_CODES.values(), *upi.UPI_CODES.values(), *three_ds]


def test_every_failure_says_why_and_nothing_else_has_a_decline_code() -> None:
    for meaning in _rows():
        settled_well = meaning.outcome in (Out.APPROVED, Out.REQUIRES_ACTION)
        assert (meaning.decline_code is None) is settled_well, meaning
        assert meaning.message


def test_tables_never_answer_pending_or_canceled() -> None:
    # PENDING is for acquirers that confirm later; CANCELED only follows a void.
    assert {m.outcome for m in _rows()} <= {
        Out.APPROVED,
        Out.DECLINED,
        Out.REQUIRES_ACTION,
        Out.PROCESSING_ERROR,
        Out.RISK_BLOCKED,
    }


def test_every_test_card_reply_is_a_known_code() -> None:
    for reply in TEST_CARDS.values():
        assert reply.code in set(card.NetworkCode)


def test_codes_are_unique() -> None:
    assert len({c.value for c in card.NetworkCode}) == len(card.NetworkCode)
    assert len({c.value for c in upi.UpiCode}) == len(upi.UpiCode)


@given(st.text(max_size=4))
def test_any_card_code_maps_and_only_00_approves(code: str) -> None:
    meaning = card.meaning_of(code)
    assert isinstance(meaning.outcome, AuthorizationOutcome)
    assert (meaning.outcome is Out.APPROVED) is (code == "00")
    status, failure = card.operation_status(code)
    assert (status is OperationStatus.SUCCEEDED) is (code == "00")
    assert (failure is None) is (code == "00")
    assert failure is None or isinstance(failure, DeclineCode)


@given(st.text(max_size=4))
def test_any_upi_code_maps_and_only_00_approves(code: str) -> None:
    assert (upi.meaning_of(code).outcome is Out.APPROVED) is (code == "00")


def test_unknown_codes_are_generic_declines() -> None:
    assert card.meaning_of("Q7") == card.UNRECOGNIZED
    assert card.UNRECOGNIZED.decline_code is DeclineCode.GENERIC_DECLINE
    assert upi.meaning_of("XX").decline_code is DeclineCode.GENERIC_DECLINE
