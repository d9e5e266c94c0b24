"""The acquirer role's servicer of AcquirerSimulatorService (internal/v1/acquirer.proto).

Each method is message -> core request, the hosted acquirer's port method, result ->
message (adapters/acquirers/wire.py). AcquirerErrors become statuses in
AcquirerErrorInterceptor (servers/roles/acquirer.py).

A request that changes something runs to completion even when its caller gives up (a
deadline, a dropped connection): a real acquirer does not undo an authorization because
the gateway stopped listening, and the gateway's "outcome unknown" path (lookup with the
same reference) must find what happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
from datetime import date
from typing import Any, Protocol, TypeVar, runtime_checkable

import grpc
from paygate.internal.v1 import acquirer_pb2 as pb
from paygate.internal.v1 import acquirer_pb2_grpc

from adapters.acquirers import wire
from adapters.acquirers.settlement_file import SettlementRecord
from core.payments.acquirer import Acquirer, DisputeFeed
from core.shared.errors import InvalidArgument

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")


@runtime_checkable
class SettlementFile(Protocol):
    async def settlement_records(self, day: date) -> Sequence[SettlementRecord]: ...


def _retrieve(task: asyncio.Future[Any]) -> None:
    # A request whose caller left still finishes; its error has nobody to go to.
    if not task.cancelled():
        task.exception()


async def to_completion(work: Coroutine[Any, Any, T]) -> T:
    """Awaits `work`, which goes on to its end even if this call is cancelled."""
    task = asyncio.ensure_future(work)
    task.add_done_callback(_retrieve)
    return await asyncio.shield(task)


class AcquirerSimulatorServicer(acquirer_pb2_grpc.AcquirerSimulatorServiceServicer):
    def __init__(self, acquirers: Mapping[pb.Acquirer.ValueType, Acquirer]) -> None:
        self._acquirers = dict(acquirers)

    def _acquirer(self, which: pb.Acquirer.ValueType) -> Acquirer:
        acquirer = self._acquirers.get(which)
        if acquirer is None:
            raise InvalidArgument.field(
                "acquirer", "must name a hosted acquirer", reason="INVALID_REQUEST"
            )
        return acquirer

    async def Authorize(
        self, request: pb.AuthorizeRequest, context: Context
    ) -> pb.AuthorizationResult:
        acquirer = self._acquirer(request.acquirer)
        core_request = wire.authorization_request_from(request)
        result = await to_completion(acquirer.authorize(core_request))
        return wire.authorization_result(result)

    async def CompleteChallenge(
        self, request: pb.CompleteChallengeRequest, context: Context
    ) -> pb.AuthorizationResult:
        acquirer = self._acquirer(request.acquirer)
        result = await to_completion(
            acquirer.complete_challenge(request.attempt_reference, request.passed)
        )
        return wire.authorization_result(result)

    async def Lookup(self, request: pb.LookupRequest, context: Context) -> pb.LookupResponse:
        result = await self._acquirer(request.acquirer).lookup(request.attempt_reference)
        if result is None:
            return pb.LookupResponse()
        return pb.LookupResponse(result=wire.authorization_result(result))

    async def Capture(self, request: pb.CaptureRequest, context: Context) -> pb.OperationResult:
        acquirer = self._acquirer(request.acquirer)
        core_request = wire.capture_request_from(request)
        return wire.operation_result(await to_completion(acquirer.capture(core_request)))

    async def Void(self, request: pb.VoidRequest, context: Context) -> pb.OperationResult:
        acquirer = self._acquirer(request.acquirer)
        core_request = wire.void_request_from(request)
        return wire.operation_result(await to_completion(acquirer.void(core_request)))

    async def Refund(self, request: pb.RefundRequest, context: Context) -> pb.OperationResult:
        acquirer = self._acquirer(request.acquirer)
        core_request = wire.refund_request_from(request)
        return wire.operation_result(await to_completion(acquirer.refund(core_request)))

    async def DisputesSince(
        self, request: pb.DisputesSinceRequest, context: Context
    ) -> pb.DisputesSinceResponse:
        acquirer = self._acquirer(request.acquirer)
        if not isinstance(acquirer, DisputeFeed):
            return pb.DisputesSinceResponse()
        disputes = await acquirer.disputes_since(request.sequence)
        return pb.DisputesSinceResponse(disputes=[wire.dispute(d) for d in disputes])

    async def SettlementRecords(
        self, request: pb.SettlementRecordsRequest, context: Context
    ) -> pb.SettlementRecordsResponse:
        acquirer = self._acquirer(request.acquirer)
        day = wire.parse_day(request.day)
        if not isinstance(acquirer, SettlementFile):
            return pb.SettlementRecordsResponse()
        records = await acquirer.settlement_records(day)
        return pb.SettlementRecordsResponse(records=[wire.settlement_record(r) for r in records])
