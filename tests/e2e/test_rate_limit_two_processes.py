"""429 past the limit with two API processes sharing Redis: together they let through
exactly the merchant's limit, not the limit per process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from paygate.v1 import payment_intents_pb2, payment_intents_pb2_grpc

from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.model import Principal
from core.access.ports import RateLimitResult
from core.access.rate_limits import RateLimits
from core.access.roles import Role
from core.access.use_cases import ApiKeys
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 10  # per hour: no window boundary can let an extra call in during the test


@pytest.fixture
def api_processes(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[list[str]]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PAYGATE_DATA_DIR": str(tmp_path),
        "PAYGATE_LOG_LEVEL": "WARNING",
    }
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    processes = []
    for i, address in enumerate(addresses):
        with (tmp_path / f"api{i}.log").open("w") as log:  # the child keeps its own copy
            command = [sys.executable, "-m", "servers.cli", "serve", "--role", "api"]
            command += ["--listen", address]
            processes.append(
                subprocess.Popen(
                    command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
                )
            )
    try:
        yield addresses
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_until_serving(channel: grpc.aio.Channel) -> None:
    """Up to a minute: two interpreters importing the whole gateway on a loaded 2-core
    machine took more than the 15 s this once allowed."""
    health = health_pb2_grpc.HealthStub(channel)
    for _ in range(1200):
        try:
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.aio.AioRpcError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("the API process did not start")


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
