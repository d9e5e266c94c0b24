"""The API processes, as this surface calls them: gRPC with the caller's own credentials.

One channel, balanced per call over every API process (grpc's round_robin policy over
the addresses `paygate up` gives them, or every pod of the API's headless Service), so a
process being restarted is skipped as Envoy would skip it. The caller's Authorization,
Idempotency-Key and address travel as the metadata the API's interceptors read; nothing is
decided here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from paygate.v1 import (
    balance_pb2_grpc,
    events_pb2_grpc,
    payment_intents_pb2_grpc,
    payment_methods_pb2_grpc,
    refunds_pb2_grpc,
    tokens_pb2_grpc,
    webhook_endpoints_pb2_grpc,
)

from servers.stripe.errors import from_rpc

CALL_TIMEOUT = 30.0


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the API must see it."""

    authorization: str
    request_id: str
    idempotency_key: str = ""
    forwarded_for: str = ""

    def metadata(self) -> tuple[tuple[str, str], ...]:
        pairs = [("x-request-id", self.request_id)]
        if self.authorization:
            pairs.append(("authorization", self.authorization))
        if self.idempotency_key:
            pairs.append(("idempotency-key", self.idempotency_key))
        if self.forwarded_for:
            pairs.append(("x-forwarded-for", self.forwarded_for))
        return tuple(pairs)


def api_target(addresses: Sequence[tuple[str, int]], upstream: str = "") -> str:
    """The gRPC target of the API processes: `upstream` (host:port, a headless Service
    whose every pod is one address) resolved by DNS when set, else the local addresses."""
    if upstream:
        return f"dns:///{upstream}"
    return "ipv4:" + ",".join(f"{host}:{port}" for host, port in addresses)


class Backend:
    def __init__(self, target: str) -> None:
        self.channel = grpc.aio.insecure_channel(
            target, options=[("grpc.lb_policy_name", "round_robin")]
        )
        self.payment_intents = payment_intents_pb2_grpc.PaymentIntentServiceStub(self.channel)
        self.refunds = refunds_pb2_grpc.RefundServiceStub(self.channel)
        self.tokens = tokens_pb2_grpc.TokenServiceStub(self.channel)
        self.payment_methods = payment_methods_pb2_grpc.PaymentMethodServiceStub(self.channel)
        self.balance = balance_pb2_grpc.BalanceServiceStub(self.channel)
        self.events = events_pb2_grpc.EventServiceStub(self.channel)
        self.webhook_endpoints = webhook_endpoints_pb2_grpc.WebhookEndpointServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close(None)


async def call(method: Any, request: Any, caller: Caller) -> Any:
    """One unary call; a failed one raises its StripeError."""
    try:
        return await method(
            request,
            metadata=caller.metadata(),
            timeout=CALL_TIMEOUT,
        )
    except grpc.aio.AioRpcError as error:
        raise from_rpc(error) from None
