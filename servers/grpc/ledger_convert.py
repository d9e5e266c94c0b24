"""Ledger core objects <-> protobuf messages (balance, payouts, settlements, disputes).

Pure translation, like servers/grpc/convert.py (kept apart so the two contexts' converters
merge independently).
"""

from __future__ import annotations

from paygate.v1 import balance_pb2, disputes_pb2, payouts_pb2, settlements_pb2

from core.ledger.model import BalanceTransaction, BalanceTransactionType, MerchantBalance
from core.ledger.records import Dispute, DisputeEvidence, Payout, PayoutStatus, Settlement
from core.shared.errors import InvalidArgument
from core.shared.money import Money
from servers.grpc.convert import timestamp

BT = balance_pb2.BalanceTransaction


def _amounts(values: list[Money]) -> list[balance_pb2.Amount]:
    return [balance_pb2.Amount(amount=m.amount, currency=m.currency) for m in values]


def balance(value: MerchantBalance) -> balance_pb2.Balance:
    return balance_pb2.Balance(
        available=_amounts(value.available),
        pending=_amounts(value.pending),
        reserved=_amounts(value.reserved),
        livemode=value.livemode,
    )


def balance_transaction(value: BalanceTransaction) -> balance_pb2.BalanceTransaction:
    return BT(
        id=value.id,
        type=BT.Type.Value(value.type.value),
        amount=value.amount,
        fee=value.fee,
        net=value.net,
        currency=value.currency,
        source=value.source,
        available_on=timestamp(value.available_on),
        created=timestamp(value.created),
        exchange_rate="" if value.exchange_rate is None else str(value.exchange_rate),
        description=value.description,
        livemode=value.livemode,
    )


def balance_transaction_type(value: BT.Type.ValueType) -> BalanceTransactionType | None:
    if value == BT.TYPE_UNSPECIFIED:
        return None
    try:
        return BalanceTransactionType(BT.Type.Name(value))
    except ValueError:
        raise InvalidArgument.field("type", "is not a balance transaction type") from None


def payout(value: Payout) -> payouts_pb2.Payout:
    message = payouts_pb2.Payout
    return message(
        id=value.id,
        amount=value.amount,
        currency=value.currency,
        status=message.Status.Value(value.status.value),
        method=message.Method.Value(value.method.value),
        arrival_date=timestamp(value.arrival_date),
        created=timestamp(value.created),
        balance_transaction=value.balance_transaction_id,
        settlement=value.settlement_id,
        description=value.description,
        livemode=value.livemode,
    )


def payout_status(value: payouts_pb2.Payout.Status.ValueType) -> PayoutStatus | None:
    message = payouts_pb2.Payout
    if value == message.STATUS_UNSPECIFIED:
        return None
    try:
        return PayoutStatus(message.Status.Name(value))
    except ValueError:
        raise InvalidArgument.field("status", "is not a payout status") from None


def settlement(value: Settlement) -> settlements_pb2.Settlement:
    message = settlements_pb2.Settlement
    return message(
        id=value.id,
        currency=value.currency,
        day=value.day.isoformat(),
        cutoff=timestamp(value.cutoff),
        status=message.Status.Value(value.status.value),
        transaction_count=value.totals.count,
        amount=value.totals.amount,
        fee=value.totals.fee,
        net=value.totals.net,
        released=value.released,
        payout=value.payout_id,
        created=timestamp(value.created),
        completed_at=timestamp(value.completed_at),
        report_url=f"/v1/settlements/{value.id}/report",
        livemode=value.livemode,
    )


def evidence(value: DisputeEvidence | None) -> disputes_pb2.DisputeEvidence | None:
    if value is None:
        return None
    return disputes_pb2.DisputeEvidence(**value.as_dict())


def evidence_from(value: disputes_pb2.DisputeEvidence) -> DisputeEvidence:
    return DisputeEvidence(
        product_description=value.product_description,
        customer_communication=value.customer_communication,
        receipt=value.receipt,
        shipping_documentation=value.shipping_documentation,
        uncategorized_text=value.uncategorized_text,
    )


def dispute(value: Dispute) -> disputes_pb2.Dispute:
    message = disputes_pb2.Dispute
    return message(
        id=value.id,
        payment_intent=value.payment_intent_id,
        amount=value.amount,
        currency=value.currency,
        reason=value.reason,
        status=message.Status.Value(value.status.value),
        evidence=evidence(value.evidence),
        evidence_due_by=timestamp(value.evidence_due_by),
        evidence_submitted_at=timestamp(value.evidence_submitted_at),
        created=timestamp(value.created),
        closed_at=timestamp(value.closed_at),
        balance_transactions=list(value.balance_transactions),
        livemode=value.livemode,
    )
