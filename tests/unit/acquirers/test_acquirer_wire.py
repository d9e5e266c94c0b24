"""The acquirer port's objects <-> AcquirerSimulatorService messages: total tables, exact
round trips (the contract tests run every case over gRPC; these pin each field)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from google.protobuf.descriptor import EnumDescriptor
from paygate.internal.v1 import acquirer_pb2 as pb

from adapters.acquirers import wire
from adapters.acquirers.grpc_errors import REJECTION_STATUS
from adapters.acquirers.settlement_file import SettlementRecord
from core.payments.acquirer import (
    AcquirerDispute,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    Card,
    DeclineCode,
    DisputeReason,
    NextActionType,
    OperationKind,
    OperationResult,
    OperationStatus,
    RefundRequest,
    RejectionCode,
    Upi,
    VoidRequest,
)
from core.payments.model import NextAction
from core.shared.errors import InvalidArgument
from core.shared.money import Money
from core.shared.secret import Secret


def _wire_values(enum: EnumDescriptor) -> set[int]:
    return {v.number for v in enum.values if v.number != 0}


@pytest.mark.parametrize(
    ("to_wire", "from_wire", "core_enum", "wire_enum"),
    [
        (wire.OUTCOMES, wire.OUTCOMES_FROM, AuthorizationOutcome, pb.AuthorizationResult.Outcome),
        (wire.NEXT_ACTIONS, wire.NEXT_ACTIONS_FROM, NextActionType, pb.NextAction.Type),
        (wire.KINDS, wire.KINDS_FROM, OperationKind, pb.OperationResult.Kind),
        (wire.STATUSES, wire.STATUSES_FROM, OperationStatus, pb.OperationResult.Status),
    ],
)
def test_enum_tables_are_total_and_inverse(
    to_wire: dict[object, int], from_wire: dict[int, object], core_enum: type, wire_enum: object
) -> None:
    assert set(to_wire) == set(core_enum)  # type: ignore[call-overload]
    assert set(from_wire) == _wire_values(wire_enum.DESCRIPTOR)  # type: ignore[attr-defined]
    assert all(from_wire[to_wire[value]] is value for value in to_wire)


def test_settlement_kinds_are_captures_and_refunds() -> None:
    assert set(wire.SETTLEMENT_KINDS) == {OperationKind.CAPTURE, OperationKind.REFUND}
    assert set(wire.SETTLEMENT_KINDS_FROM) == _wire_values(pb.SettlementRecord.Kind.DESCRIPTOR)


def test_every_rejection_code_has_a_status() -> None:
    assert set(REJECTION_STATUS) == set(RejectionCode)


@pytest.mark.parametrize("outcome", list(AuthorizationOutcome))
@pytest.mark.parametrize("decline_code", [None, *DeclineCode])
def test_authorization_results_round_trip(
    outcome: AuthorizationOutcome, decline_code: DeclineCode | None
) -> None:
    result = AuthorizationResult(
        attempt_reference="pa_1",
        outcome=outcome,
        amount=Money(1050, "KWD"),
        acquirer_reference="simnet_1",
        decline_code=decline_code,
        acquirer_code="51",
        authorization_code="123456",
        message="The card has insufficient funds.",
        next_action=NextAction(NextActionType.UPI_COLLECT, "upi://pay?pa=x", "data:image/png;"),
    )
    assert wire.authorization_result_from(wire.authorization_result(result)) == result
    bare = AuthorizationResult("pa_2", outcome, Money(0, "JPY"))
    assert wire.authorization_result_from(wire.authorization_result(bare)) == bare


@pytest.mark.parametrize("kind", list(OperationKind))
@pytest.mark.parametrize("status", list(OperationStatus))
def test_operation_results_round_trip(kind: OperationKind, status: OperationStatus) -> None:
    for failure in (None, DeclineCode.TRY_AGAIN_LATER):
        result = OperationResult(
            kind, "pa_1", "cap_1", status, Money(5, "USD"), "simnet_cap_1", failure, "91"
        )
        assert wire.operation_result_from(wire.operation_result(result)) == result


def test_an_unknown_decline_code_from_a_newer_peer_is_a_generic_decline() -> None:
    message = wire.authorization_result(
        AuthorizationResult("pa_1", AuthorizationOutcome.DECLINED, Money(1, "USD"))
    )
    message.decline_code = "brand_new_code"
    assert wire.authorization_result_from(message).decline_code is DeclineCode.GENERIC_DECLINE


def test_an_unknown_outcome_is_refused_not_guessed() -> None:
    message = pb.AuthorizationResult(outcome=pb.AuthorizationResult.OUTCOME_UNSPECIFIED)
    with pytest.raises(wire.WireError):
        wire.authorization_result_from(message)


@pytest.mark.parametrize(
    "source",
    [
        Card(Secret("4242424242424242"), 1, 2030, "visa", cvc=Secret("123"), holder_name="A B"),
        Card(Secret("378282246310005"), 12, 2031, "amex"),  # no CVC: stays None
        Upi("Payer@OKAXIS"),  # as given: the switch normalizes
    ],
)
def test_authorization_requests_round_trip(source: Card | Upi) -> None:
    request = AuthorizationRequest("pa_1", "acct_1", Money(100, "INR"), source, "Shop", "Order 7")
    message = wire.authorize_request(pb.ACQUIRER_CARD_NETWORK, request)
    assert message.acquirer == pb.ACQUIRER_CARD_NETWORK
    assert wire.authorization_request_from(message) == request
    asked = replace(request, require_authentication=True)  # the risk engine's review band
    assert (
        wire.authorization_request_from(wire.authorize_request(pb.ACQUIRER_CARD_NETWORK, asked))
        == asked
    )


def test_operation_requests_round_trip() -> None:
    capture = CaptureRequest("pa_1", "cap_1", "acct_1", Money(7, "EUR"), final=False)
    void = VoidRequest("pa_1", "acct_1", "requested_by_customer")
    refund = RefundRequest("pa_1", "re_1", "acct_1", Money(3, "EUR"), "duplicate")
    which = pb.ACQUIRER_UPI_SWITCH
    assert wire.capture_request_from(wire.capture_request(which, capture)) == capture
    assert wire.void_request_from(wire.void_request(which, void)) == void
    assert wire.refund_request_from(wire.refund_request(which, refund)) == refund


def test_a_request_without_a_source_or_with_an_unknown_currency_is_invalid() -> None:
    with pytest.raises(InvalidArgument) as missing:
        wire.authorization_request_from(pb.AuthorizeRequest(amount=pb.Money(currency="USD")))
    assert missing.value.violations[0].field == "source"
    with pytest.raises(InvalidArgument) as currency:
        wire.capture_request_from(pb.CaptureRequest(amount=pb.Money(amount=1, currency="XXY")))
    assert currency.value.violations[0].field == "amount.currency"
    with pytest.raises(InvalidArgument):
        wire.parse_day("2031-13-01")


def test_disputes_and_settlement_records_round_trip() -> None:
    at = datetime(2031, 5, 4, 12, 30, 15, 123456, tzinfo=UTC)
    for reason in DisputeReason:
        dispute = AcquirerDispute(3, "dp_1", "pa_1", "cap_1", "acct_1", Money(9, "USD"), reason, at)
        assert wire.dispute_from(wire.dispute(dispute)) == dispute
    for kind in (OperationKind.CAPTURE, OperationKind.REFUND):
        record = SettlementRecord("cap_1", kind, Money(9, "USD"), at, "pa_1", "acct_1", "sim_1")
        assert wire.settlement_record_from(wire.settlement_record(record)) == record
