"""VaultInternalService: the vault role's servicer (proto/paygate/internal/v1/vault.proto)."""

from __future__ import annotations

from paygate.internal.v1 import vault_pb2 as pb
from paygate.internal.v1 import vault_pb2_grpc
from paygate.v1 import payment_methods_pb2, tokens_pb2

from adapters.vault import wire
from core.access.model import Principal
from core.shared.errors import InvalidArgument
from core.vault.use_cases import Vault
from servers.grpc.context import ServicerContext
from servers.grpc.service_auth import service

Context = ServicerContext


def _principal(caller: pb.Caller) -> Principal:
    if not caller.merchant_id:
        raise InvalidArgument.field("caller.merchant_id", "is required")
    return wire.principal_from(caller)


class VaultInternalServicer(vault_pb2_grpc.VaultInternalServiceServicer):
    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    async def CreateToken(
        self, request: pb.CreateTokenRequest, context: Context
    ) -> tokens_pb2.Token:
        card = wire.card_input(request.request.card)
        return wire.token(await self._vault.tokenize_card(_principal(request.caller), card))

    async def CreatePaymentMethod(
        self, request: pb.CreatePaymentMethodRequest, context: Context
    ) -> payment_methods_pb2.PaymentMethod:
        method = await self._vault.create_payment_method_from_token(
            _principal(request.caller), request.request.token, customer_id=request.request.customer
        )
        return wire.payment_method(method)

    async def GetPaymentMethod(
        self, request: pb.GetPaymentMethodRequest, context: Context
    ) -> payment_methods_pb2.PaymentMethod:
        method = await self._vault.get_payment_method(
            _principal(request.caller), request.request.id
        )
        return wire.payment_method(method)

    async def ListPaymentMethods(
        self, request: pb.ListPaymentMethodsRequest, context: Context
    ) -> payment_methods_pb2.ListPaymentMethodsResponse:
        page = await self._vault.list_payment_methods(
            _principal(request.caller),
            customer_id=request.request.customer,
            limit=request.request.limit,
            starting_after=request.request.starting_after,
        )
        return payment_methods_pb2.ListPaymentMethodsResponse(
            data=[wire.payment_method(m) for m in page.data], has_more=page.has_more
        )

    async def RevokePaymentMethod(
        self, request: pb.RevokePaymentMethodRequest, context: Context
    ) -> payment_methods_pb2.PaymentMethod:
        method = await self._vault.revoke_payment_method(
            _principal(request.caller), request.request.id
        )
        return wire.payment_method(method)

    async def DetokenizeForPayment(
        self, request: pb.DetokenizeForPaymentRequest, context: Context
    ) -> pb.DetokenizeForPaymentResponse:
        if not request.merchant_id:
            raise InvalidArgument.field("merchant_id", "is required")
        card = await self._vault.detokenize_for_payment(
            request.merchant_id,
            request.payment_method,
            purpose=request.purpose,
            actor=f"service:{service.get()}",
            livemode=request.livemode if request.HasField("livemode") else None,
        )
        return wire.detokenize_response(card)

    async def DescribeForPayment(
        self, request: pb.DescribeForPaymentRequest, context: Context
    ) -> pb.DescribeForPaymentResponse:
        if not request.merchant_id:
            raise InvalidArgument.field("merchant_id", "is required")
        description = await self._vault.describe_for_payment(
            request.merchant_id, request.payment_method, livemode=request.livemode
        )
        return wire.describe_response(description)
