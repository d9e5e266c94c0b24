"""Balance, payouts, settlements and disputes: proto -> use-case -> proto, nothing else."""

from __future__ import annotations

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

from core.ledger.balances import Balances
from core.ledger.disputes import Disputes
from core.ledger.payouts import CreatePayout, Payouts
from core.ledger.settlement import Settlements
from servers.grpc import ledger_convert as convert
from servers.grpc.context import ServicerContext, caller

REPORT_CONTENT_TYPE = "text/csv; charset=utf-8"


class BalanceService(balance_pb2_grpc.BalanceServiceServicer):
    def __init__(self, balances: Balances) -> None:
        self._balances = balances

    async def GetBalance(
        self, request: balance_pb2.GetBalanceRequest, context: ServicerContext
    ) -> balance_pb2.Balance:
        return convert.balance(await self._balances.get(caller()))

    async def ListBalanceTransactions(
        self,
        request: balance_pb2.ListBalanceTransactionsRequest,
        context: ServicerContext,
    ) -> balance_pb2.ListBalanceTransactionsResponse:
        page = await self._balances.transactions(
            caller(),
            limit=request.limit,
            starting_after=request.starting_after,
            type=convert.balance_transaction_type(request.type),
            source=request.source,
        )
        return balance_pb2.ListBalanceTransactionsResponse(
            data=[convert.balance_transaction(t) for t in page.data], has_more=page.has_more
        )


class PayoutService(payouts_pb2_grpc.PayoutServiceServicer):
    def __init__(self, payouts: Payouts) -> None:
        self._payouts = payouts

    async def CreatePayout(
        self, request: payouts_pb2.CreatePayoutRequest, context: ServicerContext
    ) -> payouts_pb2.Payout:
        command = CreatePayout(
            amount=request.amount, currency=request.currency, description=request.description
        )
        return convert.payout(await self._payouts.create(caller(), command))

    async def GetPayout(
        self, request: payouts_pb2.GetPayoutRequest, context: ServicerContext
    ) -> payouts_pb2.Payout:
        return convert.payout(await self._payouts.get(caller(), request.id))

    async def ListPayouts(
        self, request: payouts_pb2.ListPayoutsRequest, context: ServicerContext
    ) -> payouts_pb2.ListPayoutsResponse:
        page = await self._payouts.list(
            caller(),
            limit=request.limit,
            starting_after=request.starting_after,
            status=convert.payout_status(request.status),
        )
        return payouts_pb2.ListPayoutsResponse(
            data=[convert.payout(p) for p in page.data], has_more=page.has_more
        )


class SettlementService(settlements_pb2_grpc.SettlementServiceServicer):
    def __init__(self, settlements: Settlements) -> None:
        self._settlements = settlements

    async def ListSettlements(
        self, request: settlements_pb2.ListSettlementsRequest, context: ServicerContext
    ) -> settlements_pb2.ListSettlementsResponse:
        page = await self._settlements.list(
            caller(), limit=request.limit, starting_after=request.starting_after
        )
        return settlements_pb2.ListSettlementsResponse(
            data=[convert.settlement(s) for s in page.data], has_more=page.has_more
        )

    async def GetSettlement(
        self, request: settlements_pb2.GetSettlementRequest, context: ServicerContext
    ) -> settlements_pb2.Settlement:
        return convert.settlement(await self._settlements.get(caller(), request.id))

    async def GetSettlementReport(
        self,
        request: settlements_pb2.GetSettlementReportRequest,
        context: ServicerContext,
    ) -> httpbody_pb2.HttpBody:
        report = await self._settlements.report(caller(), request.id)
        # Envoy passes response metadata on as HTTP headers: browsers save it as a file.
        await context.send_initial_metadata(
            (("content-disposition", f'attachment; filename="{request.id}.csv"'),)
        )
        return httpbody_pb2.HttpBody(content_type=REPORT_CONTENT_TYPE, data=report.encode())


class DisputeService(disputes_pb2_grpc.DisputeServiceServicer):
    def __init__(self, disputes: Disputes) -> None:
        self._disputes = disputes

    async def ListDisputes(
        self, request: disputes_pb2.ListDisputesRequest, context: ServicerContext
    ) -> disputes_pb2.ListDisputesResponse:
        page = await self._disputes.list(
            caller(), limit=request.limit, starting_after=request.starting_after
        )
        return disputes_pb2.ListDisputesResponse(
            data=[convert.dispute(d) for d in page.data], has_more=page.has_more
        )

    async def GetDispute(
        self, request: disputes_pb2.GetDisputeRequest, context: ServicerContext
    ) -> disputes_pb2.Dispute:
        return convert.dispute(await self._disputes.get(caller(), request.id))

    async def SubmitDisputeEvidence(
        self,
        request: disputes_pb2.SubmitDisputeEvidenceRequest,
        context: ServicerContext,
    ) -> disputes_pb2.Dispute:
        submitted = await self._disputes.submit_evidence(
            caller(), request.id, convert.evidence_from(request.evidence)
        )
        return convert.dispute(submitted)
