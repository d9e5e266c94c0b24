"""The zone's one layer (servers/roles/vault/server.py ZoneDoor): a caller without the
service credential is refused before the connector is called, the service is recorded for
the vault's audit; a connector's AcquirerError reaches the API's acquirer client as the
same error, a ciphertext that does not open is INTERNAL with its reason and no detail,
over a real server on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from paygate.internal.v1 import acquirer_pb2 as pb
from paygate.internal.v1 import acquirer_pb2_grpc

from adapters.acquirers import wire
from adapters.acquirers.grpc_client import GrpcAcquirer
from adapters.system import SystemClock
from adapters.vault.grpc_errors import CIPHERTEXT_REJECTED_REASON
from core.payments.acquirer import (
    AcquirerRejected,
    CaptureRequest,
    InvalidPaymentDetails,
    OperationResult,
    RejectionCode,
)
from core.shared.money import Money
from core.vault.errors import CiphertextRejected
from servers.grpc.service_auth import service
from servers.roles.vault.server import SERVICE_NAME, start_server
from tests.fakes import in_memory_vault

TOKEN = "zone-service-token-0123456789abcdefghij"


class Raising:
    """A connector whose capture raises what the test puts in `error`, and notes the
    service each call was made for."""

    def __init__(self) -> None:
        self.error: Exception = RuntimeError("set by the test")
        self.services: list[str] = []

    async def capture(self, request: CaptureRequest) -> OperationResult:
        self.services.append(service.get())
        raise self.error


@pytest.fixture
async def zone() -> AsyncIterator[tuple[Raising, grpc.aio.Channel]]:
    connector = Raising()
    server = await start_server(
        in_memory_vault(SystemClock()),
        "127.0.0.1:0",
        tokens=[TOKEN],
        zone={pb.ACQUIRER_CARD_NETWORK: connector},  # type: ignore[dict-item]
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield connector, channel
    finally:
        await channel.close(None)
        await server.server.stop(None)


CAPTURE = CaptureRequest("pa_1", "cap_1", "acct_1", Money(100, "USD"))


async def test_a_connectors_invalid_details_come_back_as_the_same_error(
    zone: tuple[Raising, grpc.aio.Channel],
) -> None:
    connector, channel = zone
    connector.error = InvalidPaymentDetails("payment_method", "This token was already used.")
    client = GrpcAcquirer.card_network(channel, service_token=TOKEN)
    with pytest.raises(InvalidPaymentDetails) as raised:
        await client.capture(CAPTURE)
    assert (raised.value.field, raised.value.description) == (
        "payment_method",
        "This token was already used.",
    )


async def test_a_connectors_rejection_keeps_its_code_and_the_service_is_recorded(
    zone: tuple[Raising, grpc.aio.Channel],
) -> None:
    connector, channel = zone
    connector.error = AcquirerRejected(RejectionCode.NOT_AUTHORIZED, "not approved")
    client = GrpcAcquirer.card_network(channel, service_token=TOKEN)
    with pytest.raises(AcquirerRejected) as raised:
        await client.capture(CAPTURE)
    assert raised.value.code is RejectionCode.NOT_AUTHORIZED
    assert connector.services == [SERVICE_NAME]  # the actor of the vault's audit


async def test_a_rejected_ciphertext_is_internal_with_its_reason_and_no_detail(
    zone: tuple[Raising, grpc.aio.Channel],
) -> None:
    connector, channel = zone
    connector.error = CiphertextRejected("tag mismatch for key dk_1")
    stub = acquirer_pb2_grpc.AcquirerSimulatorServiceStub(channel)
    request = wire.capture_request(pb.ACQUIRER_CARD_NETWORK, CAPTURE)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.Capture(request, metadata=(("authorization", f"Bearer {TOKEN}"),))
    assert raised.value.code() is grpc.StatusCode.INTERNAL
    assert "dk_1" not in (raised.value.details() or "")
    status = rpc_status.from_call(raised.value)
    assert status is not None
    infos = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    info = error_details_pb2.ErrorInfo()
    infos[0].Unpack(info)
    assert info.reason == CIPHERTEXT_REJECTED_REASON


# None; another token; the right token without its scheme.
@pytest.mark.parametrize("credential", ["", "Bearer not-the-zone-token-0123456789abcdef", TOKEN])
async def test_a_caller_without_the_credential_never_reaches_the_connector(
    zone: tuple[Raising, grpc.aio.Channel], credential: str
) -> None:
    connector, channel = zone
    connector.error = AcquirerRejected(RejectionCode.NOT_AUTHORIZED, "not approved")
    stub = acquirer_pb2_grpc.AcquirerSimulatorServiceStub(channel)
    request = wire.capture_request(pb.ACQUIRER_CARD_NETWORK, CAPTURE)
    metadata = (("authorization", credential),) if credential else ()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.Capture(request, metadata=metadata)
    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert connector.services == []
