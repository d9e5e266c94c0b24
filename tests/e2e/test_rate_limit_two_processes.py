"""429 past the limit with two API processes sharing Redis: together they let through
exactly the merchant's limit, not the limit per process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from paygate.v1 import payment_intents_pb2, payment_intents_pb2_grpc

from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.model import Principal
from core.access.ports import RateLimitResult
from core.access.rate_limits import RateLimits
from core.access.roles import Role
from core.access.use_cases import ApiKeys
from tests.e2e.api_processes import api_processes as two_api_processes
from tests.e2e.api_processes import wait_until_serving

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 10  # per hour: no window boundary can let an extra call in during the test


@pytest.fixture
def api_processes(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[list[str]]:
    with two_api_processes(database_url, redis_url, tmp_path) as addresses:
        yield addresses


class _Unused:
    async def hit(self, key: str, limit: str) -> RateLimitResult:
        raise AssertionError("configure() counts nothing")


@pytest.fixture
async def merchant_key(uow_factory: SqlUnitOfWorkFactory) -> AsyncIterator[str]:
    ids, clock = RandomIds(), SystemClock()
    seeded = await ApiKeys(uow_factory, ids, clock).seed_merchant("Two processes Ltd")
    owner = Principal(seeded.merchant.id, False, "usr_ops", Role.OWNER)
    await RateLimits(_Unused(), uow_factory, clock).configure(
        owner, "payments_create", (f"{LIMIT}/hour",)
    )
    yield seeded.secret_key.plaintext


async def test_two_processes_sharing_redis_allow_exactly_the_limit(
    api_processes: list[str], merchant_key: str
) -> None:
    metadata = (("authorization", f"Bearer {merchant_key}"),)
    request = payment_intents_pb2.CreatePaymentIntentRequest(amount=500, currency="eur")
    channels = [grpc.aio.insecure_channel(address) for address in api_processes]
    try:
        for channel in channels:
            await wait_until_serving(channel)
        stubs = [payment_intents_pb2_grpc.PaymentIntentServiceStub(c) for c in channels]

        async def create(i: int) -> tuple[int, grpc.StatusCode, dict[str, str]]:
            try:
                await stubs[i % 2].CreatePaymentIntent(request, metadata=metadata, timeout=10)
            except grpc.aio.AioRpcError as error:
                trailers = {k: v for k, v in error.trailing_metadata() or () if isinstance(v, str)}
                return i % 2, error.code(), trailers
            return i % 2, grpc.StatusCode.OK, {}

        # Alternately, one at a time: both processes serve part of the budget.
        first = [await create(i) for i in range(6)]
        assert [code for _, code, _ in first] == [grpc.StatusCode.OK] * 6
        # Then a concurrent burst across both: exactly the rest gets through.
        burst = await asyncio.gather(*(create(i) for i in range(24)))
    finally:
        for channel in channels:
            await channel.close()

    codes = [code for _, code, _ in first + burst]
    assert codes.count(grpc.StatusCode.OK) == LIMIT
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 30 - LIMIT
    refused = [(process, t) for process, c, t in burst if c != grpc.StatusCode.OK]
    assert {process for process, _ in refused} == {0, 1}  # both processes say 429
    assert all(1 <= int(t["retry-after"]) <= 3600 for _, t in refused)
