from __future__ import annotations

from paygate.v1 import payment_methods_pb2 as pb
from paygate.v1 import payment_methods_pb2_grpc

from adapters.vault import wire
from core.vault.ports import VaultApi
from servers.grpc.context import ServicerContext, caller
from servers.grpc.servicers.vault_api import required


class PaymentMethodService(payment_methods_pb2_grpc.PaymentMethodServiceServicer):
    def __init__(self, vault: VaultApi | None) -> None:
        self._vault = vault

    async def CreatePaymentMethod(
        self, request: pb.CreatePaymentMethodRequest, context: ServicerContext
    ) -> pb.PaymentMethod:
        method = await required(self._vault).create_payment_method_from_token(
            caller(), request.token, customer_id=request.customer
        )
        return wire.payment_method(method)

    async def GetPaymentMethod(
        self, request: pb.GetPaymentMethodRequest, context: ServicerContext
    ) -> pb.PaymentMethod:
        method = await required(self._vault).get_payment_method(caller(), request.id)
        return wire.payment_method(method)

    async def ListPaymentMethods(
        self, request: pb.ListPaymentMethodsRequest, context: ServicerContext
    ) -> pb.ListPaymentMethodsResponse:
        page = await required(self._vault).list_payment_methods(
            caller(),
            customer_id=request.customer,
            limit=request.limit,
            starting_after=request.starting_after,
        )
        return pb.ListPaymentMethodsResponse(
            data=[wire.payment_method(m) for m in page.data], has_more=page.has_more
        )

    async def RevokePaymentMethod(
        self, request: pb.RevokePaymentMethodRequest, context: ServicerContext
    ) -> pb.PaymentMethod:
        method = await required(self._vault).revoke_payment_method(caller(), request.id)
        return wire.payment_method(method)
