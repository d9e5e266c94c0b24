"""The vault role over gRPC (split mode): VaultApi for the API servicers and CardVault for
the payments core, both over VaultInternalService on PAYGATE_VAULT_TARGET.

Every call carries the service credential (`authorization: Bearer <token>`) and the
request id of the call being served (`x-request-id`, so the two processes' log lines
join up), and has a deadline. Nothing is retried here: a DetokenizeForPayment whose answer
was lost may have consumed its token (the vault's audit says so), and retrying it would
only get TOKEN_ALREADY_USED; reads are cheap for the caller to retry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from paygate.internal.v1 import vault_pb2 as internal
from paygate.internal.v1 import vault_pb2_grpc
from paygate.v1 import payment_methods_pb2, tokens_pb2

from adapters.grpc_channel import open_channel
from adapters.vault import wire
from adapters.vault.grpc_errors import from_rpc_error
from adapters.vault.profile_handoff import ProfileHandoff, handed_off_profile
from core.access.model import Principal
from core.payments.ports import CardForPayment, CardProfile
from core.shared.pagination import Page
from core.vault.cards import CardInput
from core.vault.model import PaymentMethod, Token

T = TypeVar("T")

DEFAULT_TIMEOUT_SECONDS = 5.0


def _no_request_id() -> str:
    return ""


class GrpcVault:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        service_token: str,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        request_id: Callable[[], str] = _no_request_id,
        profiles: ProfileHandoff | None = None,
    ) -> None:
        if not service_token:
            raise ValueError(
                "the vault's service credential (PAYGATE_VAULT_SERVICE_TOKEN) is empty"
            )
        self._channel = channel
        self._stub = vault_pb2_grpc.VaultInternalServiceStub(channel)
        self._token = service_token
        self._timeout = timeout_seconds
        self._request_id = request_id
        self._profiles = profiles

    @classmethod
    def connect(
        cls,
        target: str,
        *,
        service_token: str,
        credentials: grpc.ChannelCredentials | None = None,
        **kwargs: object,
    ) -> GrpcVault:
        """A client on its own channel to `target` (host:port); aclose() it on shutdown.
        `credentials` make it a TLS channel (mTLS with a client certificate)."""
        channel = open_channel(target, credentials)
        return cls(channel, service_token=service_token, **kwargs)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        await self._channel.close(None)

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {self._token}"),)
        rid = self._request_id()
        if rid:
            metadata += (("x-request-id", rid),)
        return metadata

    async def _call(self, call: Callable[..., Awaitable[T]], request: object) -> T:
        try:
            return await call(request, metadata=self._metadata(), timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None

    # --- VaultApi ---------------------------------------------------------------------

    async def tokenize_card(self, caller: Principal, card: CardInput) -> Token:
        request = internal.CreateTokenRequest(
            caller=wire.caller(caller),
            request=tokens_pb2.CreateTokenRequest(
                card=tokens_pb2.CardInput(
                    number=card.number.reveal(),
                    exp_month=card.exp_month,
                    exp_year=card.exp_year,
                    cvc=card.cvc.reveal(),
                    name=card.name,
                )
            ),
        )
        token = await self._call(self._stub.CreateToken, request)
        return wire.token_from(token, caller.merchant_id)

    async def create_payment_method_from_token(
        self, caller: Principal, token_id: str, *, customer_id: str = ""
    ) -> PaymentMethod:
        request = internal.CreatePaymentMethodRequest(
            caller=wire.caller(caller),
            request=payment_methods_pb2.CreatePaymentMethodRequest(
                token=token_id, customer=customer_id
            ),
        )
        method = await self._call(self._stub.CreatePaymentMethod, request)
        return wire.payment_method_from(method, caller.merchant_id)

    async def get_payment_method(self, caller: Principal, method_id: str) -> PaymentMethod:
        request = internal.GetPaymentMethodRequest(
            caller=wire.caller(caller),
            request=payment_methods_pb2.GetPaymentMethodRequest(id=method_id),
        )
        method = await self._call(self._stub.GetPaymentMethod, request)
        return wire.payment_method_from(method, caller.merchant_id)

    async def list_payment_methods(
        self,
        caller: Principal,
        *,
        customer_id: str = "",
        limit: int = 0,
        starting_after: str = "",
    ) -> Page[PaymentMethod]:
        request = internal.ListPaymentMethodsRequest(
            caller=wire.caller(caller),
            request=payment_methods_pb2.ListPaymentMethodsRequest(
                customer=customer_id, limit=limit, starting_after=starting_after
            ),
        )
        page = await self._call(self._stub.ListPaymentMethods, request)
        return Page(
            data=[wire.payment_method_from(m, caller.merchant_id) for m in page.data],
            has_more=page.has_more,
        )

    async def revoke_payment_method(self, caller: Principal, method_id: str) -> PaymentMethod:
        request = internal.RevokePaymentMethodRequest(
            caller=wire.caller(caller),
            request=payment_methods_pb2.RevokePaymentMethodRequest(id=method_id),
        )
        method = await self._call(self._stub.RevokePaymentMethod, request)
        return wire.payment_method_from(method, caller.merchant_id)

    # --- CardProfiles -----------------------------------------------------------------

    async def card_profile(
        self, merchant_id: str, payment_method: str, *, livemode: bool
    ) -> CardProfile:
        """The profile the zone handed over when it tokenized the card (`profiles`), else
        DescribeForPayment (adapters/vault/profile_handoff.py)."""
        if self._profiles is not None:
            handed = await handed_off_profile(
                self._profiles, merchant_id, payment_method, livemode=livemode
            )
            if handed is not None:
                return handed
        request = internal.DescribeForPaymentRequest(
            merchant_id=merchant_id, payment_method=payment_method, livemode=livemode
        )
        return wire.described(await self._call(self._stub.DescribeForPayment, request))

    # --- CardVault --------------------------------------------------------------------

    async def card_for_payment(
        self,
        merchant_id: str,
        payment_method: str,
        *,
        livemode: bool,
        purpose: str,
    ) -> CardForPayment:
        request = internal.DetokenizeForPaymentRequest(
            merchant_id=merchant_id, payment_method=payment_method, purpose=purpose
        )
        request.livemode = livemode
        response = await self._call(self._stub.DetokenizeForPayment, request)
        return wire.detokenized(response)
