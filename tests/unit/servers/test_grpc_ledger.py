"""Balance, payouts, settlements and disputes over a real aio server on memory adapters.

The money is posted the way the payment use-cases will post it (tests/ledger_traffic.py),
the batches run as the worker role will run them; every read and write of the merchant
goes through the gRPC methods, their interceptors and their error mapping.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.api import httpbody_pb2
from paygate.v1 import (
    balance_pb2,
    balance_pb2_grpc,
    disputes_pb2,
    disputes_pb2_grpc,
    payouts_pb2,
    payouts_pb2_grpc,
    settlements_pb2,
    settlements_pb2_grpc,
)

from adapters.system import RandomIds
from core.access.model import KeyType
from core.access.roles import Role
from servers.bootstrap.app import App
from servers.roles.api import start
from tests.fakes import in_memory_app
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory
from tests.ledger_traffic import DISPUTED, Charge, PaymentsStandIn
from tests.unit.servers.test_grpc_api import details

DAY0 = datetime(2026, 3, 3, tzinfo=UTC)
BT = balance_pb2.BalanceTransaction


@dataclass
class Ledger:
    app: App
    payments: PaymentsStandIn
    merchant_id: str
    charges: list[Charge]
    balance: balance_pb2_grpc.BalanceServiceStub
    payouts: payouts_pb2_grpc.PayoutServiceStub
    settlements: settlements_pb2_grpc.SettlementServiceStub
    disputes: disputes_pb2_grpc.DisputeServiceStub
    secret_key: str
    staff_key: str
    other_key: str

    def auth(self, key: str | None = None) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {key or self.secret_key}"),)


@pytest.fixture
async def ledger() -> AsyncIterator[Ledger]:
    uow, ids = MemoryUnitOfWorkFactory(), RandomIds()
    app = in_memory_app(uow, ids=ids)
    seeded = await app.api_keys.seed_merchant("Shop")
    other = await app.api_keys.seed_merchant("Other shop")
    owner = await app.api_keys.authenticate(seeded.secret_key.plaintext)
    staff = await app.api_keys.create(owner, KeyType.SECRET, Role.STAFF)
    merchant_id = seeded.merchant.id
    payments = PaymentsStandIn(uow, ids, DAY0)
    charges = [
        await payments.charge(merchant_id, 10_000, "USD", at=DAY0 + timedelta(hours=9)),
        await payments.charge(
            merchant_id, 4000, "USD", at=DAY0 + timedelta(hours=10), card=DISPUTED
        ),
    ]
    await payments.refund(charges[0], 1000, at=DAY0 + timedelta(hours=11))
    server, _, port = await start(app, "127.0.0.1:0")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield Ledger(
            app,
            payments,
            merchant_id,
            charges,
            balance_pb2_grpc.BalanceServiceStub(channel),
            payouts_pb2_grpc.PayoutServiceStub(channel),
            settlements_pb2_grpc.SettlementServiceStub(channel),
            disputes_pb2_grpc.DisputeServiceStub(channel),
            seeded.secret_key.plaintext,
            staff.plaintext,
            other.secret_key.plaintext,
        )
    await server.stop(None)
    await app.aclose()


async def test_balance_and_its_transactions(ledger: Ledger) -> None:
    balance = await ledger.balance.GetBalance(
        balance_pb2.GetBalanceRequest(), metadata=ledger.auth()
    )
    # 9680 + 3854 net of fees, less the 1000 refund.
    assert [(a.amount, a.currency) for a in balance.pending] == [(12_534, "USD")]
    assert [(a.amount, a.currency) for a in balance.available] == [(0, "USD")]

    listed = await ledger.balance.ListBalanceTransactions(
        balance_pb2.ListBalanceTransactionsRequest(limit=2), metadata=ledger.auth()
    )
    assert [t.type for t in listed.data] == [BT.REFUND, BT.CHARGE]
    assert listed.has_more
    refund = listed.data[0]
    assert (refund.amount, refund.fee, refund.net, refund.currency) == (-1000, 0, -1000, "USD")
    rest = await ledger.balance.ListBalanceTransactions(
        balance_pb2.ListBalanceTransactionsRequest(starting_after=listed.data[-1].id),
        metadata=ledger.auth(),
    )
    assert [(t.type, t.amount, t.fee, t.net) for t in rest.data] == [(BT.CHARGE, 10_000, 320, 9680)]
    charges = await ledger.balance.ListBalanceTransactions(
        balance_pb2.ListBalanceTransactionsRequest(
            type=BT.CHARGE, source=ledger.charges[1].payment_intent_id
        ),
        metadata=ledger.auth(),
    )
    assert [t.amount for t in charges.data] == [4000]
    assert charges.data[0].available_on.ToDatetime(UTC) == DAY0 + timedelta(days=2)
    # A STAFF key reads the balance; another merchant sees none of it.
    await ledger.balance.GetBalance(
        balance_pb2.GetBalanceRequest(), metadata=ledger.auth(ledger.staff_key)
    )
    others = await ledger.balance.ListBalanceTransactions(
        balance_pb2.ListBalanceTransactionsRequest(), metadata=ledger.auth(ledger.other_key)
    )
    assert list(others.data) == []


async def test_bad_list_arguments_name_the_field(ledger: Ledger) -> None:
    for request, field in (
        (balance_pb2.ListBalanceTransactionsRequest(limit=101), "limit"),
        (balance_pb2.ListBalanceTransactionsRequest(type=99), "type"),  # type: ignore[arg-type]
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await ledger.balance.ListBalanceTransactions(request, metadata=ledger.auth())
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert details(raised.value)[0].metadata["param"] == field


async def test_settlement_report_and_payout(ledger: Ledger) -> None:
    now = DAY0 + timedelta(days=2, hours=1)
    await ledger.app.settlement_batch.run_settlement(now.date(), now)
    listed = await ledger.settlements.ListSettlements(
        settlements_pb2.ListSettlementsRequest(), metadata=ledger.auth()
    )
    (settlement,) = listed.data
    assert settlement.status == settlements_pb2.Settlement.COMPLETED
    assert (settlement.day, settlement.currency, settlement.transaction_count) == (
        now.date().isoformat(),
        "USD",
        3,
    )
    assert (settlement.amount, settlement.fee, settlement.net) == (13_000, 466, 12_534)
    assert settlement.report_url == f"/v1/settlements/{settlement.id}/report"
    got = await ledger.settlements.GetSettlement(
        settlements_pb2.GetSettlementRequest(id=settlement.id), metadata=ledger.auth()
    )
    assert got == settlement

    call = ledger.settlements.GetSettlementReport(
        settlements_pb2.GetSettlementReportRequest(id=settlement.id), metadata=ledger.auth()
    )
    report: httpbody_pb2.HttpBody = await call
    assert report.content_type == "text/csv; charset=utf-8"
    assert ("content-disposition", f'attachment; filename="{settlement.id}.csv"') in tuple(
        await call.initial_metadata()
    )
    rows = list(csv.reader(io.StringIO(report.data.decode())))
    assert [row[2] for row in rows[1:]] == ["CHARGE", "CHARGE", "REFUND", "TOTAL"]
    assert rows[-1][7:10] == ["13000", "466", "12534"]

    for key in (ledger.other_key,):
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await ledger.settlements.GetSettlementReport(
                settlements_pb2.GetSettlementReportRequest(id=settlement.id),
                metadata=ledger.auth(key),
            )
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND

    # Manual payouts: never more than available, never from a STAFF key.
    with pytest.raises(grpc.aio.AioRpcError) as short:
        await ledger.payouts.CreatePayout(
            payouts_pb2.CreatePayoutRequest(amount=12_535, currency="usd"), metadata=ledger.auth()
        )
    assert short.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = details(short.value)
    assert (info.reason, info.metadata["available"]) == ("BALANCE_INSUFFICIENT", "12534")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await ledger.payouts.CreatePayout(
            payouts_pb2.CreatePayoutRequest(currency="usd"), metadata=ledger.auth()
        )
    assert missing.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(missing.value)[0].metadata["param"] == "amount"
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await ledger.payouts.CreatePayout(
            payouts_pb2.CreatePayoutRequest(amount=1, currency="usd"),
            metadata=ledger.auth(ledger.staff_key),
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

    payout = await ledger.payouts.CreatePayout(
        payouts_pb2.CreatePayoutRequest(amount=12_000, currency="usd", description="March"),
        metadata=ledger.auth(),
    )
    assert (payout.amount, payout.currency, payout.status, payout.method) == (
        12_000,
        "USD",
        payouts_pb2.Payout.IN_TRANSIT,
        payouts_pb2.Payout.MANUAL,
    )
    assert payout.id.startswith("po_") and payout.balance_transaction.startswith("txn_")
    assert (
        await ledger.payouts.GetPayout(
            payouts_pb2.GetPayoutRequest(id=payout.id), metadata=ledger.auth()
        )
        == payout
    )
    listed_payouts = await ledger.payouts.ListPayouts(
        payouts_pb2.ListPayoutsRequest(status=payouts_pb2.Payout.IN_TRANSIT),
        metadata=ledger.auth(),
    )
    assert [p.id for p in listed_payouts.data] == [payout.id]
    balance = await ledger.balance.GetBalance(
        balance_pb2.GetBalanceRequest(), metadata=ledger.auth()
    )
    assert [(a.amount, a.currency) for a in balance.available] == [(534, "USD")]


async def test_disputes_list_and_take_evidence(ledger: Ledger) -> None:
    await ledger.app.disputes.ingest(ledger.payments.acquirer)
    listed = await ledger.disputes.ListDisputes(
        disputes_pb2.ListDisputesRequest(), metadata=ledger.auth()
    )
    (dispute,) = listed.data
    assert (dispute.payment_intent, dispute.amount, dispute.currency, dispute.reason) == (
        ledger.charges[1].payment_intent_id,
        4000,
        "USD",
        "fraudulent",
    )
    assert dispute.status == disputes_pb2.Dispute.NEEDS_RESPONSE
    assert not dispute.HasField("evidence")
    assert len(dispute.balance_transactions) == 1

    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await ledger.disputes.SubmitDisputeEvidence(
            disputes_pb2.SubmitDisputeEvidenceRequest(id=dispute.id), metadata=ledger.auth()
        )
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(empty.value)[0].metadata["param"] == "evidence"
    evidence = disputes_pb2.DisputeEvidence(receipt="INV-1042", uncategorized_text="signed")
    with pytest.raises(grpc.aio.AioRpcError) as staff:
        await ledger.disputes.SubmitDisputeEvidence(
            disputes_pb2.SubmitDisputeEvidenceRequest(id=dispute.id, evidence=evidence),
            metadata=ledger.auth(ledger.staff_key),
        )
    assert staff.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await ledger.disputes.SubmitDisputeEvidence(
            disputes_pb2.SubmitDisputeEvidenceRequest(id=dispute.id, evidence=evidence),
            metadata=ledger.auth(ledger.other_key),
        )
    assert other.value.code() == grpc.StatusCode.NOT_FOUND

    # Evidence is due 7 days after the network opened the dispute (at the capture, in
    # this test's past): submitting now is too late.
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await ledger.disputes.SubmitDisputeEvidence(
            disputes_pb2.SubmitDisputeEvidenceRequest(id=dispute.id, evidence=evidence),
            metadata=ledger.auth(),
        )
    assert late.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(late.value)[0].reason == "DISPUTE_EVIDENCE_PAST_DUE"

    (lost,) = await ledger.app.disputes.resolve_due_disputes(datetime.now(UTC))
    got = await ledger.disputes.GetDispute(
        disputes_pb2.GetDisputeRequest(id=dispute.id), metadata=ledger.auth(ledger.staff_key)
    )
    assert got.status == disputes_pb2.Dispute.LOST
    assert got.closed_at.ToDatetime(UTC) == lost.closed_at


async def test_evidence_in_time_puts_the_dispute_under_review(ledger: Ledger) -> None:
    recent = await ledger.payments.charge(
        ledger.merchant_id, 2500, "USD", at=datetime.now(UTC) - timedelta(hours=1), card=DISPUTED
    )
    opened = await ledger.app.disputes.ingest(ledger.payments.acquirer)
    (dispute,) = [d for d in opened.opened if d.payment_intent_id == recent.payment_intent_id]
    evidence = disputes_pb2.DisputeEvidence(
        product_description="Desk lamp", shipping_documentation="DHL 00340434"
    )
    answered = await ledger.disputes.SubmitDisputeEvidence(
        disputes_pb2.SubmitDisputeEvidenceRequest(id=dispute.id, evidence=evidence),
        metadata=ledger.auth(),
    )
    assert answered.status == disputes_pb2.Dispute.UNDER_REVIEW
    assert answered.evidence == evidence
    assert answered.evidence_submitted_at.ToDatetime(UTC) <= datetime.now(UTC)
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await ledger.disputes.SubmitDisputeEvidence(
            disputes_pb2.SubmitDisputeEvidenceRequest(id=dispute.id, evidence=evidence),
            metadata=ledger.auth(),
        )
    assert details(again.value)[0].reason == "DISPUTE_NOT_ACCEPTING_EVIDENCE"
