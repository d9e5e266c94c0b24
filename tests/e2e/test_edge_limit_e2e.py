"""Load shedding at the edge (PAYGATE_ENVOY_MAX_RPS) through the real Envoy: a call Envoy
refuses reads exactly like one an API process refuses for the merchant's own limit (429,
the same JSON body, Retry-After; over gRPC RESOURCE_EXHAUSTED with the same details), and
calls of other classes are untouched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from paygate.v1 import payment_intents_pb2, payment_intents_pb2_grpc

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.model import Principal
from core.access.ports import RateLimitResult
from core.access.rate_limits import RateLimits
from core.access.roles import Role
from core.access.use_cases import ApiKeys
from servers.runtime import edge_limits
from tests.e2e.conftest import running_gateway
from tests.e2e.gateway import Gateway

# One create a second for the whole gateway: a concurrent burst is refused at the edge.
EDGE_RPS = 1
CREATE = {"amount": 1000, "currency": "usd"}


@pytest.fixture(scope="module")
def edge_gateway(gateway_database_url: str) -> Iterator[Gateway]:
    with running_gateway(
        gateway_database_url, 1, envoy_max_rps=f"payments_create={EDGE_RPS}"
    ) as running:
        yield running


class _CountsNothing:
    async def hit(self, key: str, limit: str) -> RateLimitResult:
        raise AssertionError("configure() counts nothing")


async def _merchant_limited_to(gateway: Gateway, limit: str) -> str:
    """A new merchant whose own payments_create limit is `limit`; its secret key."""
    engine = create_engine(gateway.database_url, pool_size=1)
    uow, clock = SqlUnitOfWorkFactory(engine), SystemClock()
    try:
        seeded = await ApiKeys(uow, RandomIds(), clock).seed_merchant("Edge limit e2e")
        owner = Principal(seeded.merchant.id, False, "usr_ops", Role.OWNER)
        await RateLimits(_CountsNothing(), uow, clock).configure(owner, "payments_create", (limit,))
        return seeded.secret_key.plaintext
    finally:
        await engine.dispose()


def _shape(response: httpx.Response) -> dict[str, Any]:
    """What a client of a 429 can read, without the words meant for humans."""
    body = response.json()
    details = {d["@type"].rsplit(".", 1)[-1]: d for d in body["details"]}
    return {
        "status": response.status_code,
        "content_type": response.headers["content-type"],
        "code": body["code"],
        "keys": sorted(body),
        "details": sorted(details),
        "reason": details["ErrorInfo"]["reason"],
        "domain": details["ErrorInfo"]["domain"],
        "retry_delay": details["RetryInfo"]["retry_delay"].endswith("s"),
        "retry_after": response.headers["retry-after"].isdigit(),
        "metadata": sorted(details["ErrorInfo"]["metadata"]),
        "headers": sorted(h for h in response.headers if h.startswith(("grpc-", "access-control"))),
    }


async def _post(http: httpx.AsyncClient, key: str) -> httpx.Response:
    return await http.post(
        "/v1/payment_intents", json=CREATE, headers={"Authorization": f"Bearer {key}"}
    )


@pytest.fixture
async def rest(edge_gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=edge_gateway.rest_url, timeout=30) as http:
        yield http


def _from_the_edge(response: httpx.Response) -> bool:
    return response.status_code == 429 and response.json()["message"] == edge_limits.MESSAGE


async def _refused_by_the_api(http: httpx.AsyncClient, key: str) -> httpx.Response:
    """The merchant's own limit's 429, for a create Envoy let through."""
    for _ in range(60):
        response = await _post(http, key)
        if response.status_code == 429 and not _from_the_edge(response):
            return response
        await asyncio.sleep(0.5)  # the edge's bucket refills once a second
    pytest.fail("no 429 from the API process")


async def _refused_at_the_edge(http: httpx.AsyncClient, key: str) -> httpx.Response:
    for _ in range(10):
        burst = await asyncio.gather(*(_post(http, key) for _ in range(8)))
        edge = [r for r in burst if _from_the_edge(r)]
        if edge:
            return edge[0]
    pytest.fail("Envoy refused nothing of a burst of creates")


async def test_a_refusal_at_the_edge_reads_like_the_api_refusal(
    edge_gateway: Gateway, rest: httpx.AsyncClient
) -> None:
    api_429 = await _refused_by_the_api(rest, await _merchant_limited_to(edge_gateway, "1/hour"))
    # The gateway's merchant may create 20 a second: a 429 of a burst of 8 is the edge's.
    edge_429 = await _refused_at_the_edge(rest, edge_gateway.secret_key)

    assert _shape(edge_429) == _shape(api_429)
    assert _shape(edge_429)["reason"] == "RATE_LIMITED"
    assert int(edge_429.headers["retry-after"]) == edge_limits.RETRY_AFTER_SECONDS
    assert edge_429.json()["details"][1]["retry_delay"] == f"{edge_limits.RETRY_AFTER_SECONDS}s"
    # The browser's CORS view of it is the API's too.
    assert "retry-after" in edge_429.headers.get("access-control-expose-headers", "retry-after")


def test_a_refusal_at_the_edge_over_grpc_carries_the_api_status(edge_gateway: Gateway) -> None:
    metadata = (("authorization", f"Bearer {edge_gateway.secret_key}"),)
    request = payment_intents_pb2.CreatePaymentIntentRequest(amount=1000, currency="usd")
    with grpc.insecure_channel(edge_gateway.grpc_target) as channel:
        stub = payment_intents_pb2_grpc.PaymentIntentServiceStub(channel)
        futures = [stub.CreatePaymentIntent.future(request, metadata=metadata) for _ in range(8)]
        refused = [f for f in futures if f.code() == grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert refused, [f.code() for f in futures]
    status = rpc_status.from_call(refused[0])  # also checks code and message agree
    assert status is not None and status.message == edge_limits.MESSAGE
    info = error_details_pb2.ErrorInfo()
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(retry)
    assert (info.reason, info.domain) == ("RATE_LIMITED", "paygate.dev")
    assert retry.retry_delay.seconds == edge_limits.RETRY_AFTER_SECONDS
    trailers = dict(refused[0].trailing_metadata() or ())
    assert trailers["retry-after"] == str(edge_limits.RETRY_AFTER_SECONDS)


async def test_calls_of_other_classes_pass_the_edge_untouched(
    edge_gateway: Gateway, rest: httpx.AsyncClient
) -> None:
    created = None
    for _ in range(20):  # the edge's single token may be taken by another test's burst
        response = await _post(rest, edge_gateway.secret_key)
        if response.status_code == 200:
            created = response.json()["id"]
            break
        await asyncio.sleep(0.5)
    assert created, "no create under the edge limit went through"
    headers = {"Authorization": f"Bearer {edge_gateway.secret_key}"}
    reads = await asyncio.gather(
        *(rest.get(f"/v1/payment_intents/{created}", headers=headers) for _ in range(20))
    )
    assert [r.status_code for r in reads] == [200] * 20
    assert not any(_from_the_edge(r) for r in reads)
