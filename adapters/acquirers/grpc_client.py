"""The simulated acquirers over gRPC: the Acquirer (and DisputeFeed) port on
AcquirerSimulatorService, served by `paygate serve --role acquirer` (PAYGATE_ACQUIRER_TARGET).

One GrpcAcquirer speaks for one acquirer of that process (the card network or the UPI
switch); both share one channel (adapters.grpc_channel.open_channel), which the
composition root closes.

Every call has a deadline and carries the request id of the call being served
(`x-request-id`) and, when configured, the service credential. Nothing is retried here:
the core asks again with the same reference when an outcome is unknown. How statuses
become AcquirerErrors is adapters/acquirers/grpc_errors.py; in short, a request that
could change something is sent only over a connected channel, so "cannot be reached" is
AcquirerUnavailable (nothing happened) and "sent, no answer" is AcquirerTimeout.

Card numbers and CVCs cross this channel as they would cross to a real acquirer: put TLS
(or a mesh) on it outside one machine. Nothing here logs a message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from paygate.internal.v1 import acquirer_pb2 as pb
from paygate.internal.v1 import acquirer_pb2_grpc

from adapters.acquirers import wire
from adapters.acquirers.grpc_errors import from_rpc_error
from adapters.acquirers.settlement_file import SettlementRecord
from adapters.failpoints import ARMED as FAIL_POINTS
from adapters.failpoints import fail_point
from core.payments.acquirer import (
    Acquirer,
    AcquirerDispute,
    AcquirerUnavailable,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    DisputeFeed,
    OperationResult,
    RefundRequest,
    VoidRequest,
)

T = TypeVar("T")

DEFAULT_TIMEOUT_SECONDS = 10.0
# How long a call that changes something waits for the channel to connect before it
# answers AcquirerUnavailable without sending anything.
DEFAULT_CONNECT_TIMEOUT_SECONDS = 1.0


def _no_request_id() -> str:
    return ""


class GrpcAcquirer:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        acquirer: pb.Acquirer.ValueType,
        *,
        service_token: str = "",
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        request_id: Callable[[], str] = _no_request_id,
    ) -> None:
        if acquirer == pb.ACQUIRER_UNSPECIFIED:
            raise ValueError("name the acquirer: ACQUIRER_CARD_NETWORK or ACQUIRER_UPI_SWITCH")
        self._channel = channel
        self._stub = acquirer_pb2_grpc.AcquirerSimulatorServiceStub(channel)
        self._acquirer = acquirer
        # Built once: every call sends it.
        self._credential: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {service_token}"),) if service_token else ()
        )
        self._timeout = timeout_seconds
        self._connect_timeout = min(connect_timeout_seconds, timeout_seconds)
        self._request_id = request_id

    @classmethod
    def card_network(cls, channel: grpc.aio.Channel, **kwargs: Any) -> GrpcAcquirer:
        return cls(channel, pb.ACQUIRER_CARD_NETWORK, **kwargs)

    @classmethod
    def upi_switch(cls, channel: grpc.aio.Channel, **kwargs: Any) -> GrpcAcquirer:
        return cls(channel, pb.ACQUIRER_UPI_SWITCH, **kwargs)

    @classmethod
    def orbit(cls, channel: grpc.aio.Channel, **kwargs: Any) -> GrpcAcquirer:
        return cls(channel, pb.ACQUIRER_ORBIT, **kwargs)

    @classmethod
    def kora(cls, channel: grpc.aio.Channel, **kwargs: Any) -> GrpcAcquirer:
        return cls(channel, pb.ACQUIRER_KORA, **kwargs)

    # --- plumbing ------------------------------------------------------------------------

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        rid = self._request_id()
        return (*self._credential, ("x-request-id", rid)) if rid else self._credential

    async def _connected(self) -> None:
        """Returns once the channel is connected; AcquirerUnavailable if it cannot be."""
        if self._channel.get_state(try_to_connect=True) is grpc.ChannelConnectivity.READY:
            return
        try:
            await asyncio.wait_for(self._channel.channel_ready(), self._connect_timeout)
        except TimeoutError:
            raise AcquirerUnavailable("The acquirer could not be reached.") from None

    async def _call(
        self,
        method: Callable[..., Awaitable[T]],
        request: object,
        *,
        reference: str,
        outcome_at_stake: bool,
    ) -> T:
        if outcome_at_stake:
            await self._connected()
        # The fail points (tests only) are named only when armed: authorize, capture...
        name = type(request).__name__.removesuffix("Request").lower() if FAIL_POINTS else ""
        if name:
            fail_point(f"acquirer.before.{name}")
        try:
            answer = await method(request, metadata=self._metadata(), timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(
                error, reference=reference, outcome_at_stake=outcome_at_stake
            ) from None
        if name:
            fail_point(f"acquirer.after.{name}")
        return answer

    # --- Acquirer ------------------------------------------------------------------------

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        message = wire.authorize_request(self._acquirer, request)
        result = await self._call(
            self._stub.Authorize,
            message,
            reference=request.attempt_reference,
            outcome_at_stake=True,
        )
        return wire.authorization_result_from(result)

    async def complete_challenge(self, attempt_reference: str, passed: bool) -> AuthorizationResult:
        message = pb.CompleteChallengeRequest(
            acquirer=self._acquirer, attempt_reference=attempt_reference, passed=passed
        )
        result = await self._call(
            self._stub.CompleteChallenge,
            message,
            reference=attempt_reference,
            outcome_at_stake=True,
        )
        return wire.authorization_result_from(result)

    async def lookup(self, attempt_reference: str) -> AuthorizationResult | None:
        message = pb.LookupRequest(acquirer=self._acquirer, attempt_reference=attempt_reference)
        response = await self._call(
            self._stub.Lookup, message, reference=attempt_reference, outcome_at_stake=False
        )
        if not response.HasField("result"):
            return None
        return wire.authorization_result_from(response.result)

    async def capture(self, request: CaptureRequest) -> OperationResult:
        result = await self._call(
            self._stub.Capture,
            wire.capture_request(self._acquirer, request),
            reference=request.capture_reference,
            outcome_at_stake=True,
        )
        return wire.operation_result_from(result)

    async def void(self, request: VoidRequest) -> OperationResult:
        result = await self._call(
            self._stub.Void,
            wire.void_request(self._acquirer, request),
            reference=request.attempt_reference,
            outcome_at_stake=True,
        )
        return wire.operation_result_from(result)

    async def refund(self, request: RefundRequest) -> OperationResult:
        result = await self._call(
            self._stub.Refund,
            wire.refund_request(self._acquirer, request),
            reference=request.refund_reference,
            outcome_at_stake=True,
        )
        return wire.operation_result_from(result)

    # --- DisputeFeed ---------------------------------------------------------------------

    async def disputes_since(self, sequence: int = 0) -> Sequence[AcquirerDispute]:
        message = pb.DisputesSinceRequest(acquirer=self._acquirer, sequence=sequence)
        response = await self._call(
            self._stub.DisputesSince, message, reference="disputes", outcome_at_stake=False
        )
        return [wire.dispute_from(d) for d in response.disputes]

    # --- the settlement file -------------------------------------------------------------

    async def settlement_records(self, day: date) -> list[SettlementRecord]:
        """What the acquirer booked on `day` (UTC): every successful capture and refund."""
        message = pb.SettlementRecordsRequest(acquirer=self._acquirer, day=day.isoformat())
        response = await self._call(
            self._stub.SettlementRecords, message, reference="settlement", outcome_at_stake=False
        )
        return [wire.settlement_record_from(r) for r in response.records]


if TYPE_CHECKING:  # mypy proves the client fits the ports
    _acquirer: Acquirer = GrpcAcquirer(grpc.aio.insecure_channel(""), pb.ACQUIRER_CARD_NETWORK)
    _feed: DisputeFeed = GrpcAcquirer(grpc.aio.insecure_channel(""), pb.ACQUIRER_CARD_NETWORK)
