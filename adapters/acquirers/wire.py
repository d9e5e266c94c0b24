"""The acquirer port's objects <-> AcquirerSimulatorService messages, both ways.

Pure translation, no rules: the server (servers/acquirer) reads requests into core objects
and writes results back; the client (adapters/acquirers/grpc_client.py) does the reverse.
Every enum has one table per direction and tests/unit/acquirers/test_acquirer_wire.py
checks that each is total, so a new outcome or status cannot cross the wire as something
else. Decline codes and dispute reasons travel as the core's own string values.

A card number or CVC passes through `card_source` (core -> message, client side) and
`source_from` (message -> core, wrapped in a Secret at once, server side) only.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from paygate.internal.v1 import acquirer_pb2 as pb

from adapters.acquirers.settlement_file import SettlementRecord
from core.payments.acquirer import (
    AcquirerDispute,
    AcquirerRejected,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    Card,
    CardReference,
    DeclineCode,
    DisputeReason,
    NextActionType,
    OperationKind,
    OperationResult,
    OperationStatus,
    PaymentSource,
    RefundRequest,
    RejectionCode,
    Upi,
    VoidRequest,
)
from core.payments.model import NextAction
from core.shared.errors import InvalidArgument
from core.shared.money import Money
from core.shared.secret import Secret

log = logging.getLogger(__name__)

AR = pb.AuthorizationResult
OR = pb.OperationResult

OUTCOMES: dict[AuthorizationOutcome, AR.Outcome.ValueType] = {
    AuthorizationOutcome.APPROVED: AR.OUTCOME_APPROVED,
    AuthorizationOutcome.DECLINED: AR.OUTCOME_DECLINED,
    AuthorizationOutcome.REQUIRES_ACTION: AR.OUTCOME_REQUIRES_ACTION,
    AuthorizationOutcome.PENDING: AR.OUTCOME_PENDING,
    AuthorizationOutcome.PROCESSING_ERROR: AR.OUTCOME_PROCESSING_ERROR,
    AuthorizationOutcome.RISK_BLOCKED: AR.OUTCOME_RISK_BLOCKED,
    AuthorizationOutcome.CANCELED: AR.OUTCOME_CANCELED,
}
OUTCOMES_FROM = {wire: core for core, wire in OUTCOMES.items()}

NEXT_ACTIONS: dict[NextActionType, pb.NextAction.Type.ValueType] = {
    NextActionType.REDIRECT_TO_URL: pb.NextAction.TYPE_REDIRECT_TO_URL,
    NextActionType.UPI_COLLECT: pb.NextAction.TYPE_UPI_COLLECT,
}
NEXT_ACTIONS_FROM = {wire: core for core, wire in NEXT_ACTIONS.items()}

KINDS: dict[OperationKind, OR.Kind.ValueType] = {
    OperationKind.CAPTURE: OR.KIND_CAPTURE,
    OperationKind.VOID: OR.KIND_VOID,
    OperationKind.REFUND: OR.KIND_REFUND,
}
KINDS_FROM = {wire: core for core, wire in KINDS.items()}

STATUSES: dict[OperationStatus, OR.Status.ValueType] = {
    OperationStatus.SUCCEEDED: OR.STATUS_SUCCEEDED,
    OperationStatus.PENDING: OR.STATUS_PENDING,
    OperationStatus.FAILED: OR.STATUS_FAILED,
}
STATUSES_FROM = {wire: core for core, wire in STATUSES.items()}

SETTLEMENT_KINDS: dict[OperationKind, pb.SettlementRecord.Kind.ValueType] = {
    OperationKind.CAPTURE: pb.SettlementRecord.KIND_CAPTURE,
    OperationKind.REFUND: pb.SettlementRecord.KIND_REFUND,
}
SETTLEMENT_KINDS_FROM = {wire: core for core, wire in SETTLEMENT_KINDS.items()}


class WireError(ValueError):
    """A message that cannot be read back into a core object (a peer of another version)."""


K = TypeVar("K")
V = TypeVar("V")


def _lookup(table: dict[K, V], key: K, what: str) -> V:
    try:
        return table[key]
    except KeyError:
        raise WireError(f"unknown {what}: {key!r}") from None


# --- shared pieces ---------------------------------------------------------------------


def money(value: Money) -> pb.Money:
    return pb.Money(amount=value.amount, currency=value.currency)


def money_from(message: pb.Money, field: str = "amount") -> Money:
    try:
        return Money(message.amount, message.currency)
    except ValueError:
        raise InvalidArgument.field(
            f"{field}.currency", "is not a known ISO 4217 currency", reason="INVALID_REQUEST"
        ) from None


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def timestamp_from(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def decline_code_from(value: str) -> DeclineCode:
    """A decline code as the core spells it; one this side does not know is a generic
    decline (a newer peer), never an approval."""
    try:
        return DeclineCode(value)
    except ValueError:
        log.warning("unknown decline code from the acquirer: %s", value)
        return DeclineCode.GENERIC_DECLINE


def parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument.field(
            "day", "must be a date, YYYY-MM-DD", reason="INVALID_REQUEST"
        ) from None


# --- requests: core -> message (client side) -------------------------------------------


def card_source(card: Card) -> pb.CardSource:
    source = pb.CardSource(
        number=card.number.reveal(),
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        brand=card.brand,
        holder_name=card.holder_name,
    )
    if card.cvc is not None:
        source.cvc = card.cvc.reveal()
    return source


def authorize_request(
    acquirer: pb.Acquirer.ValueType, r: AuthorizationRequest
) -> pb.AuthorizeRequest:
    message = pb.AuthorizeRequest(
        acquirer=acquirer,
        attempt_reference=r.attempt_reference,
        merchant_id=r.merchant_id,
        amount=money(r.amount),
        merchant_name=r.merchant_name,
        description=r.description,
        require_authentication=r.require_authentication,
        capture_reference=r.capture_reference,
    )
    if isinstance(r.source, Card):
        message.card.CopyFrom(card_source(r.source))
    elif isinstance(r.source, CardReference):
        message.card_reference.CopyFrom(
            pb.CardReference(
                payment_method=r.source.payment_method,
                livemode=r.source.livemode,
                purpose=r.source.purpose,
            )
        )
    elif isinstance(r.source, Upi):
        message.upi.vpa = r.source.vpa
    else:
        # Wallets and net banking go to their own HTTP connectors, never over this wire.
        raise AcquirerRejected(
            RejectionCode.UNSUPPORTED_PAYMENT_SOURCE,
            "The acquirer role takes cards and UPI only.",
        )
    return message


def capture_request(acquirer: pb.Acquirer.ValueType, r: CaptureRequest) -> pb.CaptureRequest:
    return pb.CaptureRequest(
        acquirer=acquirer,
        attempt_reference=r.attempt_reference,
        capture_reference=r.capture_reference,
        merchant_id=r.merchant_id,
        amount=money(r.amount),
        final=r.final,
    )


def void_request(acquirer: pb.Acquirer.ValueType, r: VoidRequest) -> pb.VoidRequest:
    return pb.VoidRequest(
        acquirer=acquirer,
        attempt_reference=r.attempt_reference,
        merchant_id=r.merchant_id,
        reason=r.reason,
    )


def refund_request(acquirer: pb.Acquirer.ValueType, r: RefundRequest) -> pb.RefundRequest:
    return pb.RefundRequest(
        acquirer=acquirer,
        attempt_reference=r.attempt_reference,
        refund_reference=r.refund_reference,
        merchant_id=r.merchant_id,
        amount=money(r.amount),
        reason=r.reason,
    )


# --- requests: message -> core (server side) -------------------------------------------


def source_from(message: pb.AuthorizeRequest) -> PaymentSource:
    kind = message.WhichOneof("source")
    if kind == "card":
        card = message.card
        return Card(
            number=Secret(card.number),
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            brand=card.brand,
            cvc=Secret(card.cvc) if card.HasField("cvc") else None,
            holder_name=card.holder_name,
        )
    if kind == "upi":
        return Upi(message.upi.vpa)
    if kind == "card_reference":
        reference = message.card_reference
        return CardReference(reference.payment_method, reference.livemode, reference.purpose)
    raise InvalidArgument.field(
        "source", "card, card_reference or upi is required", reason="INVALID_REQUEST"
    )


def authorization_request_from(message: pb.AuthorizeRequest) -> AuthorizationRequest:
    return AuthorizationRequest(
        attempt_reference=message.attempt_reference,
        merchant_id=message.merchant_id,
        amount=money_from(message.amount),
        source=source_from(message),
        merchant_name=message.merchant_name,
        description=message.description,
        require_authentication=message.require_authentication,
        capture_reference=message.capture_reference,
    )


def capture_request_from(message: pb.CaptureRequest) -> CaptureRequest:
    return CaptureRequest(
        attempt_reference=message.attempt_reference,
        capture_reference=message.capture_reference,
        merchant_id=message.merchant_id,
        amount=money_from(message.amount),
        final=message.final,
    )


def void_request_from(message: pb.VoidRequest) -> VoidRequest:
    return VoidRequest(
        attempt_reference=message.attempt_reference,
        merchant_id=message.merchant_id,
        reason=message.reason,
    )


def refund_request_from(message: pb.RefundRequest) -> RefundRequest:
    return RefundRequest(
        attempt_reference=message.attempt_reference,
        refund_reference=message.refund_reference,
        merchant_id=message.merchant_id,
        amount=money_from(message.amount),
        reason=message.reason,
    )


# --- results: core -> message (server side) --------------------------------------------


def authorization_result(result: AuthorizationResult) -> pb.AuthorizationResult:
    message = pb.AuthorizationResult(
        attempt_reference=result.attempt_reference,
        outcome=_lookup(OUTCOMES, result.outcome, "outcome"),
        amount=money(result.amount),
        acquirer_reference=result.acquirer_reference,
        acquirer_code=result.acquirer_code,
        authorization_code=result.authorization_code,
        message=result.message,
    )
    if result.decline_code is not None:
        message.decline_code = result.decline_code.value
    action = result.next_action
    if action is not None:
        message.next_action.CopyFrom(
            pb.NextAction(
                type=_lookup(NEXT_ACTIONS, NextActionType(action.type), "next action"),
                url=action.url,
                qr_code=action.qr_code,
            )
        )
    if result.capture is not None:
        message.capture.CopyFrom(operation_result(result.capture))
    return message


def operation_result(result: OperationResult) -> pb.OperationResult:
    message = pb.OperationResult(
        kind=_lookup(KINDS, result.kind, "operation kind"),
        attempt_reference=result.attempt_reference,
        reference=result.reference,
        status=_lookup(STATUSES, result.status, "operation status"),
        amount=money(result.amount),
        acquirer_reference=result.acquirer_reference,
        acquirer_code=result.acquirer_code,
    )
    if result.failure_code is not None:
        message.failure_code = result.failure_code.value
    return message


def dispute(value: AcquirerDispute) -> pb.Dispute:
    return pb.Dispute(
        sequence=value.sequence,
        dispute_reference=value.dispute_reference,
        attempt_reference=value.attempt_reference,
        capture_reference=value.capture_reference,
        merchant_id=value.merchant_id,
        amount=money(value.amount),
        reason=value.reason.value,
        opened_at=timestamp(value.opened_at),
    )


def settlement_record(record: SettlementRecord) -> pb.SettlementRecord:
    return pb.SettlementRecord(
        reference=record.reference,
        kind=_lookup(SETTLEMENT_KINDS, record.kind, "settlement kind"),
        amount=money(record.amount),
        booked_at=timestamp(record.booked_at),
        attempt_reference=record.attempt_reference,
        merchant_id=record.merchant_id,
        acquirer_reference=record.acquirer_reference,
    )


# --- results: message -> core (client side) --------------------------------------------


def authorization_result_from(message: pb.AuthorizationResult) -> AuthorizationResult:
    next_action = None
    if message.HasField("next_action"):
        action = message.next_action
        next_action = NextAction(
            type=_lookup(NEXT_ACTIONS_FROM, action.type, "next action"),
            url=action.url,
            qr_code=action.qr_code,
        )
    return AuthorizationResult(
        attempt_reference=message.attempt_reference,
        outcome=_lookup(OUTCOMES_FROM, message.outcome, "outcome"),
        amount=Money(message.amount.amount, message.amount.currency),
        acquirer_reference=message.acquirer_reference,
        decline_code=(
            decline_code_from(message.decline_code) if message.HasField("decline_code") else None
        ),
        acquirer_code=message.acquirer_code,
        authorization_code=message.authorization_code,
        message=message.message,
        next_action=next_action,
        capture=operation_result_from(message.capture) if message.HasField("capture") else None,
    )


def operation_result_from(message: pb.OperationResult) -> OperationResult:
    return OperationResult(
        kind=_lookup(KINDS_FROM, message.kind, "operation kind"),
        attempt_reference=message.attempt_reference,
        reference=message.reference,
        status=_lookup(STATUSES_FROM, message.status, "operation status"),
        amount=Money(message.amount.amount, message.amount.currency),
        acquirer_reference=message.acquirer_reference,
        failure_code=(
            decline_code_from(message.failure_code) if message.HasField("failure_code") else None
        ),
        acquirer_code=message.acquirer_code,
    )


def dispute_from(message: pb.Dispute) -> AcquirerDispute:
    try:
        reason = DisputeReason(message.reason)
    except ValueError:
        reason = DisputeReason.GENERAL
    return AcquirerDispute(
        sequence=message.sequence,
        dispute_reference=message.dispute_reference,
        attempt_reference=message.attempt_reference,
        capture_reference=message.capture_reference,
        merchant_id=message.merchant_id,
        amount=Money(message.amount.amount, message.amount.currency),
        reason=reason,
        opened_at=timestamp_from(message.opened_at),
    )


def settlement_record_from(message: pb.SettlementRecord) -> SettlementRecord:
    return SettlementRecord(
        reference=message.reference,
        kind=_lookup(SETTLEMENT_KINDS_FROM, message.kind, "settlement kind"),
        amount=Money(message.amount.amount, message.amount.currency),
        booked_at=timestamp_from(message.booked_at),
        attempt_reference=message.attempt_reference,
        merchant_id=message.merchant_id,
        acquirer_reference=message.acquirer_reference,
    )
