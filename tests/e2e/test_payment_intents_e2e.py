"""Payment intents through the real gateway: Envoy in front of two API processes on PostgreSQL.

Every case runs over REST (httpx, as a merchant's backend would) and over gRPC (the
generated Python client), and the bad-input cases check that nothing was written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpclib.client import Channel
from grpclib.exceptions import GRPCError
from paygate_client.paygate import v1 as client

from tests.e2e.gateway import Gateway


@pytest.fixture
async def rest(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {gateway.secret_key}"}
    async with httpx.AsyncClient(base_url=gateway.rest_url, headers=headers) as http:
        yield http


@pytest.fixture
async def stub(gateway: Gateway) -> AsyncIterator[client.PaymentIntentServiceStub]:
    host, port = gateway.grpc_target.rsplit(":", 1)
    channel = Channel(host, int(port))
    yield client.PaymentIntentServiceStub(
        channel, metadata={"authorization": f"Bearer {gateway.secret_key}"}
    )
    channel.close()


def error_info(body: dict[str, Any]) -> dict[str, Any]:
    infos = [d for d in body["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    assert len(infos) == 1, body
    return infos[0]


def grpc_error_info(error: GRPCError) -> error_details_pb2.ErrorInfo:
    infos = [d for d in error.details or () if isinstance(d, error_details_pb2.ErrorInfo)]
    assert len(infos) == 1, error
    return infos[0]


async def count_intents(rest: httpx.AsyncClient) -> int:
    response = await rest.get("/v1/payment_intents", params={"limit": 100})
    return len(response.json()["data"])


async def test_create_get_list_over_rest(rest: httpx.AsyncClient) -> None:
    created = await rest.post(
        "/v1/payment_intents",
        json={"amount": 1000, "currency": "usd", "metadata": {"order": "A-17"}},
    )
    assert created.status_code == 200, created.text
    intent = created.json()
    assert intent["id"].startswith("pi_")
    assert intent["amount"] == "1000"  # int64 is a JSON string in the proto3 mapping
    assert intent["currency"] == "USD"
    assert intent["status"] == "REQUIRES_PAYMENT_METHOD"
    assert intent["capture_method"] == "AUTOMATIC"
    assert intent["amount_received"] == "0"
    assert intent["client_secret"].startswith(f"{intent['id']}_secret_")
    assert intent["livemode"] is False
    assert intent["metadata"] == {"order": "A-17"}

    got = await rest.get(f"/v1/payment_intents/{intent['id']}")
    assert got.status_code == 200
    assert got.json() == intent

    second = (
        await rest.post("/v1/payment_intents", json={"amount": "250", "currency": "JPY"})
    ).json()
    page = await rest.get("/v1/payment_intents", params={"limit": 1})
    assert page.json()["data"][0]["id"] == second["id"]  # newest first
    assert page.json()["has_more"] is True
    after = await rest.get(
        "/v1/payment_intents", params={"limit": 1, "starting_after": second["id"]}
    )
    assert after.json()["data"][0]["id"] == intent["id"]
    # The merchant is shared with the other files' tests: the filter is checked on what
    # this test made, whatever they left canceled.
    waiting = await rest.get(
        "/v1/payment_intents", params={"status": "REQUIRES_PAYMENT_METHOD", "limit": 2}
    )
    assert [i["id"] for i in waiting.json()["data"]] == [second["id"], intent["id"]]
    canceled = (
        await rest.get("/v1/payment_intents", params={"status": "CANCELED", "limit": 100})
    ).json()["data"]
    assert all(i["status"] == "CANCELED" for i in canceled)
    assert {intent["id"], second["id"]}.isdisjoint(i["id"] for i in canceled)


async def test_create_get_list_over_grpc(stub: client.PaymentIntentServiceStub) -> None:
    created = await stub.create_payment_intent(
        client.CreatePaymentIntentRequest(
            amount=4200, currency="eur", capture_method=client.PaymentIntentCaptureMethod.MANUAL
        )
    )
    assert created.id.startswith("pi_")
    assert (created.amount, created.currency) == (4200, "EUR")
    assert created.status == client.PaymentIntentStatus.REQUIRES_PAYMENT_METHOD
    assert created.capture_method == client.PaymentIntentCaptureMethod.MANUAL

    got = await stub.get_payment_intent(client.GetPaymentIntentRequest(id=created.id))
    assert got == created
    listed = await stub.list_payment_intents(client.ListPaymentIntentsRequest(limit=100))
    assert created.id in [i.id for i in listed.data]


BAD_INPUT = [
    pytest.param({"currency": "usd"}, "amount", "PARAMETER_MISSING", id="missing-amount"),
    pytest.param({"amount": 0, "currency": "usd"}, "amount", "PARAMETER_MISSING", id="zero"),
    pytest.param({"amount": -1, "currency": "usd"}, "amount", "PARAMETER_INVALID", id="negative"),
    pytest.param(
        {"amount": 100, "currency": "zzz"}, "currency", "PARAMETER_INVALID", id="currency"
    ),
    pytest.param({"amount": 100}, "currency", "PARAMETER_MISSING", id="missing-currency"),
]


@pytest.mark.parametrize(("body", "field", "reason"), BAD_INPUT)
async def test_bad_input_over_rest(
    rest: httpx.AsyncClient, body: dict[str, Any], field: str, reason: str
) -> None:
    before = await count_intents(rest)
    response = await rest.post("/v1/payment_intents", json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    info = error_info(error)
    assert (info["reason"], info["domain"], info["metadata"]["param"]) == (
        reason,
        "paygate.dev",
        field,
    )
    violations = [d for d in error["details"] if d["@type"].endswith("BadRequest")]
    assert [v["field"] for v in violations[0]["field_violations"]] == [field]
    assert await count_intents(rest) == before


@pytest.mark.parametrize(("body", "field", "reason"), BAD_INPUT)
async def test_bad_input_over_grpc(
    stub: client.PaymentIntentServiceStub,
    rest: httpx.AsyncClient,
    body: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    before = await count_intents(rest)
    with pytest.raises(GRPCError) as raised:
        await stub.create_payment_intent(client.CreatePaymentIntentRequest(**body))
    assert raised.value.status.name == "INVALID_ARGUMENT"
    info = grpc_error_info(raised.value)
    assert (info.reason, info.metadata["param"]) == (reason, field)
    assert await count_intents(rest) == before


async def test_malformed_json_is_400_with_a_status_body(rest: httpx.AsyncClient) -> None:
    before = await count_intents(rest)
    response = await rest.post(
        "/v1/payment_intents",
        content=b'{"amount": 10, "currency": ',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert error_info(response.json())["reason"] == "INVALID_REQUEST"
    wrong_type = await rest.post("/v1/payment_intents", json={"amount": "ten", "currency": "usd"})
    assert wrong_type.status_code == 400
    assert error_info(wrong_type.json())["reason"] == "INVALID_REQUEST"
    assert await count_intents(rest) == before


async def test_malformed_protobuf_is_invalid_argument(gateway: Gateway) -> None:
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        raw = channel.unary_unary("/paygate.v1.PaymentIntentService/CreatePaymentIntent")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await raw(
                b"\xff\xff\xff", metadata=(("authorization", f"Bearer {gateway.secret_key}"),)
            )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_wrong_key_is_401_and_unauthenticated(gateway: Gateway) -> None:
    bad = {"Authorization": "Bearer sk_test_thisisnotakeyatall000000000000"}
    async with httpx.AsyncClient(base_url=gateway.rest_url, headers=bad) as http:
        response = await http.post("/v1/payment_intents", json={"amount": 1, "currency": "usd"})
    assert response.status_code == 401
    assert error_info(response.json())["reason"] == "INVALID_API_KEY"

    host, port = gateway.grpc_target.rsplit(":", 1)
    channel = Channel(host, int(port))
    try:
        stub = client.PaymentIntentServiceStub(
            channel, metadata={"authorization": bad["Authorization"]}
        )
        with pytest.raises(GRPCError) as raised:
            await stub.list_payment_intents(client.ListPaymentIntentsRequest())
    finally:
        channel.close()
    assert raised.value.status.name == "UNAUTHENTICATED"
    assert grpc_error_info(raised.value).reason == "INVALID_API_KEY"


async def test_unknown_route_is_404_json(rest: httpx.AsyncClient) -> None:
    response = await rest.get("/v1/nothing_here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")


async def test_reflection_lists_the_services_and_health_is_serving(gateway: Gateway) -> None:
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "paygate.v1.PaymentIntentService"):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING

        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name async for r in responses for s in r.list_services_response.service}
    assert {"paygate.v1.PaymentIntentService", "paygate.v1.ApiKeyService"} <= names
    assert "grpc.health.v1.Health" in names
