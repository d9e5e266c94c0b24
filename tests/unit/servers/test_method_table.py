"""The servers' method table (servers/grpc/method_table.py) and the call layer's cheaper
pieces: every method wrapped once at start-up, health and reflection still served, the
NUL check decided from the request's bytes, the timestamp, the client address."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from paygate.v1 import payment_intents_pb2, payment_intents_pb2_grpc

from adapters import rich_errors
from servers.grpc.client_address import LOOPBACK, ClientAddresses, client_address, parse_networks
from servers.grpc.convert import timestamp
from servers.grpc.method_table import MethodTable
from servers.grpc.text_check import bad_text_fields, may_hold_nul
from servers.roles.api import start
from tests.fakes import in_memory_app

PI = payment_intents_pb2


class Tagging:
    """A wrapper that records the order in which layers run around a call."""

    def __init__(self, tag: str, seen: list[str]) -> None:
        self.tag, self.seen, self.wrapped = tag, seen, 0

    def wrap(self, handler: Any, method: str) -> Any:
        self.wrapped += 1
        inner = handler.unary_unary

        async def unary(request: Any, context: Any) -> Any:
            self.seen.append(self.tag)
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(unary)


def _table(*wrappers: Tagging) -> MethodTable:
    async def echo(request: Any, context: Any) -> Any:
        return request

    table = MethodTable()
    table.add_registered_method_handlers("x.S", {"A": grpc.unary_unary_rpc_method_handler(echo)})
    return table.seal(wrappers)


class Details:
    def __init__(self, method: str) -> None:
        self.method, self.invocation_metadata = method, ()


async def test_each_method_is_wrapped_once_outermost_first() -> None:
    seen: list[str] = []
    outer, inner = Tagging("outer", seen), Tagging("inner", seen)
    table = _table(outer, inner)
    handler = table.service(Details("/x.S/A"))  # type: ignore[arg-type]
    assert handler is not None
    for _ in range(3):
        assert await handler.unary_unary(b"hi", None) == b"hi"
    assert seen == ["outer", "inner"] * 3
    assert (outer.wrapped, inner.wrapped) == (1, 1)
    assert table.service(Details("/x.S/Missing")) is None  # type: ignore[arg-type]
    assert table.methods == ("/x.S/A",)


def test_a_sealed_table_takes_no_more_methods() -> None:
    table = _table()
    with pytest.raises(RuntimeError):
        table.add_registered_method_handlers("x.T", {})


def test_the_generated_registration_is_taken_as_on_a_server() -> None:
    table = MethodTable()
    servicer = payment_intents_pb2_grpc.PaymentIntentServiceServicer()
    payment_intents_pb2_grpc.add_PaymentIntentServiceServicer_to_server(servicer, table)  # type: ignore[arg-type]
    table.seal()
    assert "/paygate.v1.PaymentIntentService/GetPaymentIntent" in table.methods
    with pytest.raises(TypeError):
        MethodTable().add_generic_rpc_handlers([object()])  # type: ignore[list-item]


@pytest.fixture
async def channel() -> AsyncIterator[tuple[grpc.aio.Channel, str]]:
    app = in_memory_app()
    key = (await app.api_keys.seed_merchant("Shop")).secret_key.plaintext
    server, _, port = await start(app, "127.0.0.1:0")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel, key
    await server.stop(None)
    await app.aclose()


async def test_the_api_server_serves_health_reflection_and_refuses_unknown_methods(
    channel: tuple[grpc.aio.Channel, str],
) -> None:
    ch, _ = channel
    health = health_pb2_grpc.HealthStub(ch)
    answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    reflect = reflection_pb2_grpc.ServerReflectionStub(ch)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for response in reflect.ServerReflectionInfo(iter([request])):
        names = {s.name for s in response.list_services_response.service}
    assert {"paygate.v1.PaymentIntentService", "grpc.health.v1.Health"} <= names
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await ch.unary_unary("/paygate.v1.PaymentIntentService/Nope")(b"")
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_a_nul_anywhere_is_refused_with_its_path_and_the_request_id(
    channel: tuple[grpc.aio.Channel, str],
) -> None:
    ch, key = channel
    intents = payment_intents_pb2_grpc.PaymentIntentServiceStub(ch)
    auth = (("authorization", f"Bearer {key}"), ("x-request-id", "req-nul"))
    request = PI.CreatePaymentIntentRequest(
        amount=1000, currency="usd", metadata={"order": "a\x00b"}, payment_method_types=["\x00"]
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await intents.CreatePaymentIntent(request, metadata=auth)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(rich_errors.read(raised.value).fields) == [
        "metadata[order]",
        "payment_method_types[0]",
    ]
    assert ("request-id", "req-nul") in tuple(raised.value.trailing_metadata())
    # A zero byte that is no NUL character (an amount's) is no refusal.
    created = await intents.CreatePaymentIntent(
        PI.CreatePaymentIntentRequest(amount=256 * 256, currency="usd"), metadata=auth
    )
    assert created.amount == 65536


def test_a_nul_in_any_string_field_leaves_a_zero_byte() -> None:
    rng = random.Random(7)
    for _ in range(300):
        text = "".join(rng.choice("ab\x00é") for _ in range(rng.randrange(1, 6)))
        message = PI.CreatePaymentIntentRequest(
            amount=rng.randrange(1, 10**6), description=text, metadata={text: "v", "k": text}
        )
        if list(bad_text_fields(message)):
            assert may_hold_nul(message.SerializeToString())
    assert not may_hold_nul(PI.GetPaymentIntentRequest(id="pi_123").SerializeToString())


def test_the_timestamp_is_from_datetimes() -> None:
    def reference(value: datetime) -> Timestamp:
        ts = Timestamp()
        ts.FromDatetime(value)
        return ts

    rng = random.Random(11)
    span = 315_537_897_599 * 10**6
    values = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        datetime(1960, 5, 5, 1, 2, 3, 456_789),
        datetime.now(timezone(timedelta(hours=5, minutes=30))),
    ]
    for _ in range(2000):
        at = datetime(1, 1, 1) + timedelta(microseconds=rng.randrange(span))
        values += [at, at.replace(tzinfo=UTC)]
    for value in values:
        assert timestamp(value) == reference(value), value
    assert timestamp(None) is None


def test_client_addresses_answer_as_client_address() -> None:
    cases = [
        ("ipv4:127.0.0.1:1", "6.6.6.6, 203.0.113.9", ""),
        ("ipv4:10.9.9.9:1", "203.0.113.9", ""),
        ("ipv4:127.0.0.1:1", "not-an-ip", ""),
        ("ipv4:127.0.0.1:5", "192.0.2.2", "127.0.0.2"),
        ("ipv4:127.0.0.1:5", "192.0.2.2", "junk"),
        ("ipv6:[::1]:5", "", ""),
        ("unix:/tmp/sock", "2001:db8::1", ""),
    ]
    for trusted in (LOOPBACK, parse_networks("10.0.0.0/8")):
        addresses = ClientAddresses(trusted, size=3)
        for _ in range(2):
            for peer, forwarded, said in cases:
                expected = client_address(peer, forwarded, trusted, said)
                assert addresses.of(peer, forwarded, said) == expected
        assert len(addresses._known) <= 3


async def test_a_server_without_services_serves_health_and_reflection() -> None:
    """The worker role's server: health and reflection alone, no wrappers."""
    from servers.grpc import serve

    server = await serve.start("127.0.0.1:0", [])
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            answer = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
            reflect = reflection_pb2_grpc.ServerReflectionStub(ch)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            async for response in reflect.ServerReflectionInfo(iter([request])):
                names = {s.name for s in response.list_services_response.service}
            assert "grpc.health.v1.Health" in names
    finally:
        await server.server.stop(None)
