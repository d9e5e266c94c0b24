"""The gRPC layer over in-memory adapters: interceptors, error details, conversions.

The same cases run over the network through Envoy and PostgreSQL in tests/e2e.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from google.rpc import error_details_pb2
from paygate.v1 import (
    api_keys_pb2,
    api_keys_pb2_grpc,
    payment_intents_pb2,
    payment_intents_pb2_grpc,
)

from adapters import rich_errors
from servers.roles.api import start
from tests.fakes import in_memory_app


@dataclass
class Api:
    channel: grpc.aio.Channel
    intents: payment_intents_pb2_grpc.PaymentIntentServiceStub
    keys: api_keys_pb2_grpc.ApiKeyServiceStub
    secret_key: str
    publishable_key: str
    other_secret_key: str

    def auth(self, key: str | None = None) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {key or self.secret_key}"),)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    app = in_memory_app()
    seeded = await app.api_keys.seed_merchant("Shop")
    other = await app.api_keys.seed_merchant("Other shop")
    server, _, port = await start(app, "127.0.0.1:0")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield Api(
            channel,
            payment_intents_pb2_grpc.PaymentIntentServiceStub(channel),
            api_keys_pb2_grpc.ApiKeyServiceStub(channel),
            seeded.secret_key.plaintext,
            seeded.publishable_key.plaintext,
            other.secret_key.plaintext,
        )
    await server.stop(None)
    await app.aclose()


def details(error: grpc.aio.AioRpcError) -> tuple[error_details_pb2.ErrorInfo, list[str]]:
    rich = rich_errors.read(error)
    assert rich.info is not None
    return rich.info, rich.fields


async def test_create_get_list(api: Api) -> None:
    created = await api.intents.CreatePaymentIntent(
        payment_intents_pb2.CreatePaymentIntentRequest(amount=1000, currency="usd"),
        metadata=api.auth(),
    )
    assert created.id.startswith("pi_")
    assert (created.amount, created.currency) == (1000, "USD")
    assert created.status == payment_intents_pb2.PaymentIntent.REQUIRES_PAYMENT_METHOD
    assert created.capture_method == payment_intents_pb2.PaymentIntent.AUTOMATIC

    got = await api.intents.GetPaymentIntent(
        payment_intents_pb2.GetPaymentIntentRequest(id=created.id), metadata=api.auth()
    )
    assert got == created

    listed = await api.intents.ListPaymentIntents(
        payment_intents_pb2.ListPaymentIntentsRequest(limit=1), metadata=api.auth()
    )
    assert [i.id for i in listed.data] == [created.id]
    assert listed.has_more is False


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"currency": "usd"}, "amount"),
        ({"amount": -5, "currency": "usd"}, "amount"),
        ({"amount": 100, "currency": "xyz"}, "currency"),
        ({"amount": 100}, "currency"),
    ],
)
async def test_bad_input_names_the_field(api: Api, request_fields: dict, field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.intents.CreatePaymentIntent(
            payment_intents_pb2.CreatePaymentIntentRequest(**request_fields), metadata=api.auth()
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, fields = details(raised.value)
    assert info.domain == "paygate.dev"
    assert info.metadata["param"] == field
    assert field in fields
    listed = await api.intents.ListPaymentIntents(
        payment_intents_pb2.ListPaymentIntentsRequest(), metadata=api.auth()
    )
    assert list(listed.data) == []


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ((), "MISSING_API_KEY"),
        ((("authorization", "Bearer sk_test_nottherightkey"),), "INVALID_API_KEY"),
        ((("authorization", "Basic abc"),), "INVALID_API_KEY"),
    ],
)
async def test_unauthenticated(api: Api, metadata: tuple, reason: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.intents.ListPaymentIntents(
            payment_intents_pb2.ListPaymentIntentsRequest(), metadata=metadata
        )
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert details(raised.value)[0].reason == reason


async def test_another_merchants_intent_is_not_found(api: Api) -> None:
    created = await api.intents.CreatePaymentIntent(
        payment_intents_pb2.CreatePaymentIntentRequest(amount=500, currency="eur"),
        metadata=api.auth(),
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.intents.GetPaymentIntent(
            payment_intents_pb2.GetPaymentIntentRequest(id=created.id),
            metadata=api.auth(api.other_secret_key),
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_publishable_key(api: Api) -> None:
    created = await api.intents.CreatePaymentIntent(
        payment_intents_pb2.CreatePaymentIntentRequest(amount=500, currency="eur"),
        metadata=api.auth(),
    )
    pk = api.auth(api.publishable_key)
    got = await api.intents.GetPaymentIntent(
        payment_intents_pb2.GetPaymentIntentRequest(
            id=created.id, client_secret=created.client_secret
        ),
        metadata=pk,
    )
    assert got.id == created.id
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.intents.GetPaymentIntent(
            payment_intents_pb2.GetPaymentIntentRequest(id=created.id), metadata=pk
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.intents.ListPaymentIntents(
            payment_intents_pb2.ListPaymentIntentsRequest(), metadata=pk
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details(raised.value)[0].reason == "PUBLISHABLE_KEY_NOT_ALLOWED"


async def test_api_key_lifecycle(api: Api) -> None:
    created = await api.keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(type=api_keys_pb2.ApiKey.SECRET, role=api_keys_pb2.STAFF),
        metadata=api.auth(),
    )
    assert created.secret.startswith("sk_test_")
    assert created.prefix == created.secret[: len(created.prefix)]
    staff = api.auth(created.secret)
    await api.intents.ListPaymentIntents(
        payment_intents_pb2.ListPaymentIntentsRequest(), metadata=staff
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.intents.CreatePaymentIntent(
            payment_intents_pb2.CreatePaymentIntentRequest(amount=1, currency="usd"),
            metadata=staff,
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details(raised.value)[0].metadata["permission"] == "payments:write"

    listed = await api.keys.ListApiKeys(api_keys_pb2.ListApiKeysRequest(), metadata=api.auth())
    assert created.id in [k.id for k in listed.data]
    assert all(k.secret == "" for k in listed.data)

    await api.keys.RevokeApiKey(
        api_keys_pb2.RevokeApiKeyRequest(id=created.id), metadata=api.auth()
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.intents.ListPaymentIntents(
            payment_intents_pb2.ListPaymentIntentsRequest(), metadata=staff
        )
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_undecodable_bytes_are_invalid_argument(api: Api) -> None:
    raw = api.channel.unary_unary("/paygate.v1.PaymentIntentService/CreatePaymentIntent")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await raw(b"\xff\xff\xff", metadata=api.auth())
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(raised.value)[0].reason == "INVALID_REQUEST"


async def test_errors_carry_the_request_id(api: Api) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.intents.GetPaymentIntent(
            payment_intents_pb2.GetPaymentIntentRequest(id="pi_missing"),
            metadata=(*api.auth(), ("x-request-id", "req-from-caller")),
        )
    assert ("request-id", "req-from-caller") in tuple(raised.value.trailing_metadata())
