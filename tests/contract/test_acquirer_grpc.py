"""The acquirer role over gRPC: what only the split deployment can get wrong.

The port's own cases run over gRPC in test_acquirer_contract.py; these check the channel:
every acquirer error crosses it as itself, "outcome unknown" never turns into "nothing
happened" (and the reverse), the service credential, the dispute feed and settlement file,
and that no log line of either side holds the card.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from paygate.internal.v1 import acquirer_pb2 as pb
from paygate.internal.v1 import acquirer_pb2_grpc

from adapters.acquirers.grpc_client import GrpcAcquirer
from adapters.grpc_channel import open_channel
from core.payments.acquirer import (
    Acquirer,
    AcquirerError,
    AcquirerRejected,
    AcquirerTimeout,
    AcquirerUnavailable,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    Card,
    InvalidPaymentDetails,
    OperationKind,
    OperationResult,
    RefundRequest,
    RejectionCode,
    Upi,
    VoidRequest,
)
from core.shared.money import Money
from core.shared.secret import Secret
from sandbox.acquirer import CardNetworkSimulator, UpiSimulator
from servers.roles import acquirer as acquirer_server
from tests.fakes import FixedClock
from tests.sentinel import Sentinels

MERCHANT = "acct_grpc"
TOKEN = "s" * 40
_refs = itertools.count(1)


def ref(prefix: str = "pa") -> str:
    return f"{prefix}_grpc_{next(_refs):06d}"


def card(number: str, cvc: str = "123") -> Card:
    return Card(Secret(number), 12, 2099, "visa", cvc=Secret(cvc), holder_name="A Payer")


def authorization(source: Card | Upi, amount: Money | None = None) -> AuthorizationRequest:
    return AuthorizationRequest(ref(), MERCHANT, amount or Money(1000, "USD"), source)


@asynccontextmanager
async def acquirer_role(
    acquirers: dict[pb.Acquirer.ValueType, Acquirer], *, service_token: str = ""
) -> AsyncIterator[str]:
    """A real acquirer-role server on a free port; yields its target."""
    server, health, port = await acquirer_server.start(
        acquirers, "127.0.0.1:0", service_token=service_token
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await acquirer_server.stop(server, health)


@asynccontextmanager
async def client(
    target: str, which: pb.Acquirer.ValueType = pb.ACQUIRER_CARD_NETWORK, **options: object
) -> AsyncIterator[GrpcAcquirer]:
    channel = open_channel(target)
    try:
        yield GrpcAcquirer(channel, which, **options)  # type: ignore[arg-type]
    finally:
        await channel.close()


# --- every error crosses the channel as itself ------------------------------------------


@dataclass
class Raising:
    """An acquirer that answers every call with one error."""

    error: AcquirerError
    calls: list[str] = field(default_factory=list)

    async def _raise(self, name: str) -> AuthorizationResult:
        self.calls.append(name)
        raise self.error

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        return await self._raise("authorize")

    async def complete_challenge(self, attempt_reference: str, passed: bool) -> AuthorizationResult:
        return await self._raise("complete_challenge")

    async def lookup(self, attempt_reference: str) -> AuthorizationResult | None:
        return await self._raise("lookup")

    async def capture(self, request: CaptureRequest) -> OperationResult:
        await self._raise("capture")
        raise AssertionError

    async def void(self, request: VoidRequest) -> OperationResult:
        await self._raise("void")
        raise AssertionError

    async def refund(self, request: RefundRequest) -> OperationResult:
        await self._raise("refund")
        raise AssertionError


ERRORS: list[AcquirerError] = [
    AcquirerTimeout("pa_lost", "The reply was lost."),
    AcquirerUnavailable("The network is down."),
    InvalidPaymentDetails("upi.vpa", "is not a valid UPI address (name@psp)"),
    *(
        AcquirerRejected(code, f"Refused: {code.value}.")
        for code in RejectionCode
        if code is not RejectionCode.INVALID_PAYMENT_DETAILS
    ),
]


def _same_error(got: BaseException, sent: AcquirerError) -> None:
    assert type(got) is type(sent)
    assert str(got) == str(sent)
    if isinstance(sent, AcquirerRejected):
        assert isinstance(got, AcquirerRejected)
        assert got.code is sent.code
        assert got.message == sent.message
    if isinstance(sent, InvalidPaymentDetails):
        assert isinstance(got, InvalidPaymentDetails)
        assert (got.field, got.description) == (sent.field, sent.description)
    if isinstance(sent, AcquirerTimeout):
        assert isinstance(got, AcquirerTimeout)
        assert got.reference == sent.reference


@pytest.mark.parametrize("sent", ERRORS, ids=lambda e: getattr(e, "code", type(e).__name__))
async def test_every_acquirer_error_crosses_as_itself(sent: AcquirerError) -> None:
    raising = Raising(sent)
    async with (
        acquirer_role({pb.ACQUIRER_CARD_NETWORK: raising}) as target,
        client(target) as acquirer,
    ):
        calls = [
            acquirer.authorize(authorization(card("4242424242424242"))),
            acquirer.complete_challenge("pa_x", True),
            acquirer.lookup("pa_x"),
            acquirer.capture(CaptureRequest("pa_x", "cap_x", MERCHANT, Money(1, "USD"))),
            acquirer.void(VoidRequest("pa_x", MERCHANT)),
            acquirer.refund(RefundRequest("pa_x", "re_x", MERCHANT, Money(1, "USD"))),
        ]
        for call in calls:
            with pytest.raises(AcquirerError) as caught:
                await call
            _same_error(caught.value, sent)
    assert len(raising.calls) == 6


# --- outcome unknown vs nothing happened ------------------------------------------------


async def test_timeout_card_is_outcome_unknown_then_found_by_another_client() -> None:
    network = CardNetworkSimulator()
    async with acquirer_role({pb.ACQUIRER_CARD_NETWORK: network}) as target:
        request = authorization(card("4000000000000408"))
        async with client(target) as first:
            with pytest.raises(AcquirerTimeout) as caught:
                await first.authorize(request)
            assert caught.value.reference == request.attempt_reference
        # Another process (another channel) asks again with the same reference.
        async with client(target) as second:
            found = await second.lookup(request.attempt_reference)
            assert found is not None and found.outcome is AuthorizationOutcome.APPROVED
            assert await second.authorize(request) == found


async def test_a_deadline_on_a_sent_request_is_outcome_unknown_and_the_acquirer_finishes_it() -> (
    None
):
    # The deadline leaves the request a whole second to arrive, even on a loaded machine,
    # and fires well before the acquirer answers.
    network = CardNetworkSimulator(latency=3.0)
    async with acquirer_role({pb.ACQUIRER_CARD_NETWORK: network}) as target:
        request = authorization(card("4242424242424242"))
        async with client(target, timeout_seconds=1.0) as hasty:
            with pytest.raises(AcquirerTimeout):
                await hasty.authorize(request)
        # The acquirer went on with it, as a real one would: a lookup finds the outcome.
        async with client(target) as patient:
            for _ in range(200):
                found = await patient.lookup(request.attempt_reference)
                if found is not None:
                    break
                await asyncio.sleep(0.05)
            assert found is not None and found.outcome is AuthorizationOutcome.APPROVED


async def test_a_deadline_on_a_read_is_unavailable() -> None:
    network = CardNetworkSimulator(latency=0.5)
    async with (
        acquirer_role({pb.ACQUIRER_CARD_NETWORK: network}) as target,
        client(target, timeout_seconds=0.1) as hasty,
    ):
        with pytest.raises(AcquirerUnavailable):
            await hasty.lookup("pa_anything")


async def test_an_unreachable_acquirer_is_unavailable_and_nothing_is_sent() -> None:
    # A port that was just free: nothing listens there.
    server, health, port = await acquirer_server.start({}, "127.0.0.1:0")
    await acquirer_server.stop(server, health)
    async with client(f"127.0.0.1:{port}", connect_timeout_seconds=0.2) as acquirer:
        with pytest.raises(AcquirerUnavailable):
            await acquirer.authorize(authorization(card("4242424242424242")))
        with pytest.raises(AcquirerUnavailable):
            await acquirer.capture(CaptureRequest("pa_x", "cap_x", MERCHANT, Money(1, "USD")))
        with pytest.raises(AcquirerUnavailable):
            await acquirer.lookup("pa_x")
        with pytest.raises(AcquirerUnavailable):
            await acquirer.disputes_since()


async def test_the_client_reconnects_when_the_acquirer_comes_back() -> None:
    network = CardNetworkSimulator()
    server, health, port = await acquirer_server.start(
        {pb.ACQUIRER_CARD_NETWORK: network}, "127.0.0.1:0"
    )
    target = f"127.0.0.1:{port}"
    # Refused connections fail at once; the margin is for a slow first connect.
    async with client(target, connect_timeout_seconds=2.0) as acquirer:
        first = await acquirer.authorize(authorization(card("4242424242424242")))
        await acquirer_server.stop(server, health)
        with pytest.raises(AcquirerUnavailable):
            await acquirer.authorize(authorization(card("4242424242424242")))
        server, health, _ = await acquirer_server.start({pb.ACQUIRER_CARD_NETWORK: network}, target)
        try:
            for _ in range(100):  # within the channel's short reconnect back-off
                try:
                    assert await acquirer.lookup(first.attempt_reference) == first
                    break
                except AcquirerUnavailable:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the client did not reconnect")
        finally:
            await acquirer_server.stop(server, health)


# --- the service credential -------------------------------------------------------------


async def test_the_service_credential_is_required_when_configured() -> None:
    network = CardNetworkSimulator()
    async with acquirer_role({pb.ACQUIRER_CARD_NETWORK: network}, service_token=TOKEN) as target:
        request = authorization(card("4242424242424242"))
        for token in ("", "t" * 40):
            async with client(target, service_token=token) as stranger:
                # Refused before anything happened: unavailable, never "outcome unknown".
                with pytest.raises(AcquirerUnavailable):
                    await stranger.authorize(request)
        assert await network.lookup(request.attempt_reference) is None
        async with client(target, service_token=TOKEN) as member:
            assert (await member.authorize(request)).outcome is AuthorizationOutcome.APPROVED
        # Health stays open for probes.
        async with grpc.aio.insecure_channel(target) as channel:
            from grpc_health.v1 import health_pb2, health_pb2_grpc

            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_malformed_request_is_refused_as_such() -> None:
    async with (
        acquirer_role({pb.ACQUIRER_CARD_NETWORK: CardNetworkSimulator()}) as target,
        grpc.aio.insecure_channel(target) as channel,
    ):
        stub = acquirer_pb2_grpc.AcquirerSimulatorServiceStub(channel)
        for request in (
            pb.LookupRequest(attempt_reference="pa_x"),  # no acquirer
            pb.LookupRequest(acquirer=pb.ACQUIRER_UPI_SWITCH, attempt_reference="pa_x"),
            pb.AuthorizeRequest(
                acquirer=pb.ACQUIRER_CARD_NETWORK,
                attempt_reference="pa_x",
                amount=pb.Money(amount=1, currency="USD"),
            ),  # no source
        ):
            method = stub.Lookup if isinstance(request, pb.LookupRequest) else stub.Authorize
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await method(request)
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


# --- the dispute feed and the settlement file -------------------------------------------


async def test_disputes_and_the_settlement_file_over_grpc() -> None:
    clock = FixedClock(datetime(2031, 5, 4, 23, 59, tzinfo=UTC))
    network = CardNetworkSimulator(clock=clock)
    upi = UpiSimulator(approval_delay=0, clock=clock)
    hosted: dict[pb.Acquirer.ValueType, Acquirer] = {
        pb.ACQUIRER_CARD_NETWORK: network,
        pb.ACQUIRER_UPI_SWITCH: upi,
    }
    async with (
        acquirer_role(hosted) as target,
        client(target) as acquirer,
        client(target, pb.ACQUIRER_UPI_SWITCH) as switch,
    ):
        disputed = await acquirer.authorize(authorization(card("4000000000000259")))
        attempt = disputed.attempt_reference
        capture = CaptureRequest(attempt, ref("cap"), MERCHANT, Money(1000, "USD"))
        await acquirer.capture(capture)
        clock.advance(minutes=2)  # the next UTC day
        refund = RefundRequest(attempt, ref("re"), MERCHANT, Money(400, "USD"))
        await acquirer.refund(refund)

        feed = await acquirer.disputes_since(0)
        assert list(feed) == list(await network.disputes_since(0))
        assert [d.capture_reference for d in feed] == [capture.capture_reference]
        assert await acquirer.disputes_since(feed[-1].sequence) == []
        assert await switch.disputes_since(0) == []  # the switch has no feed

        day_one = await acquirer.settlement_records(datetime(2031, 5, 4).date())
        day_two = await acquirer.settlement_records(datetime(2031, 5, 5).date())
        assert day_one == await network.settlement_records(datetime(2031, 5, 4).date())
        assert [(r.kind, r.reference, r.amount) for r in day_one] == [
            (OperationKind.CAPTURE, capture.capture_reference, Money(1000, "USD"))
        ]
        assert [(r.kind, r.reference, r.amount) for r in day_two] == [
            (OperationKind.REFUND, refund.refund_reference, Money(400, "USD"))
        ]
        assert day_two[0].booked_at == clock.now()
        assert day_two[0].attempt_reference == attempt
        assert day_two[0].merchant_id == MERCHANT
        assert await switch.settlement_records(datetime(2031, 5, 4).date()) == []
    await upi.aclose()


async def test_failed_or_refused_operations_are_not_in_the_settlement_file() -> None:
    clock = FixedClock(datetime(2031, 5, 4, 12, tzinfo=UTC))
    network = CardNetworkSimulator(clock=clock)
    async with (
        acquirer_role({pb.ACQUIRER_CARD_NETWORK: network}) as target,
        client(target) as acquirer,
    ):
        approved = await acquirer.authorize(authorization(card("4242424242424242")))
        with pytest.raises(AcquirerRejected):
            await acquirer.capture(
                CaptureRequest(approved.attempt_reference, ref("cap"), MERCHANT, Money(5000, "USD"))
            )
        await acquirer.void(VoidRequest(approved.attempt_reference, MERCHANT))
        assert await acquirer.settlement_records(clock.now().date()) == []
        assert await acquirer.settlement_records(clock.now().date() - timedelta(days=1)) == []


# --- card data never reaches a log -------------------------------------------------------


async def test_no_log_line_of_either_side_holds_the_card(caplog: pytest.LogCaptureFixture) -> None:
    sentinels = Sentinels()
    numbers = [sentinels.pan() for _ in range(3)]
    cvc = sentinels.cvc()
    caplog.set_level(logging.DEBUG)
    network = CardNetworkSimulator()
    async with acquirer_role({pb.ACQUIRER_CARD_NETWORK: network}, service_token=TOKEN) as target:
        async with client(target, service_token=TOKEN) as acquirer:
            approved = await acquirer.authorize(authorization(card(numbers[0], cvc)))
            await acquirer.authorize(authorization(card(numbers[1], cvc)))  # approved too
            with pytest.raises(AcquirerRejected):  # same reference, another card
                await acquirer.authorize(
                    AuthorizationRequest(
                        approved.attempt_reference,
                        MERCHANT,
                        Money(1000, "USD"),
                        card(numbers[2], cvc),
                    )
                )
        async with client(target, service_token="x" * 40) as stranger:
            with pytest.raises(AcquirerUnavailable):
                await stranger.authorize(authorization(card(numbers[0], cvc)))
    assert any(r.name == "paygate.access" for r in caplog.records)  # the server logged calls
    text = "\n".join(_everything_logged(caplog.records))
    assert sentinels.hits_in_text(text, "logs") == []


def _everything_logged(records: Sequence[logging.LogRecord]) -> list[str]:
    lines = []
    for record in records:
        lines.append(record.getMessage())
        lines.append(repr(getattr(record, "fields", {})))
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
    return lines
