from __future__ import annotations

from paygate.v1 import refunds_pb2 as pb
from paygate.v1 import refunds_pb2_grpc

from core.payments.refunds import CreateRefund, Refunds
from servers.grpc import convert
from servers.grpc.context import ServicerContext, caller


class RefundService(refunds_pb2_grpc.RefundServiceServicer):
    def __init__(self, refunds: Refunds) -> None:
        self._refunds = refunds

    async def CreateRefund(
        self, request: pb.CreateRefundRequest, context: ServicerContext
    ) -> pb.Refund:
        command = CreateRefund(
            payment_intent=request.payment_intent, amount=request.amount, reason=request.reason
        )
        return convert.refund(await self._refunds.create(caller(), command))

    async def GetRefund(self, request: pb.GetRefundRequest, context: ServicerContext) -> pb.Refund:
        return convert.refund(await self._refunds.get(caller(), request.id))

    async def ListRefunds(
        self, request: pb.ListRefundsRequest, context: ServicerContext
    ) -> pb.ListRefundsResponse:
        page = await self._refunds.list(
            caller(),
            limit=request.limit,
            starting_after=request.starting_after,
            payment_intent=request.payment_intent,
        )
        return pb.ListRefundsResponse(
            data=[convert.refund(r) for r in page.data], has_more=page.has_more
        )
