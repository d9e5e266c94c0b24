"""The velocity store counts the same in process and on Redis (core.risk.ports)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest
import redis.asyncio

from adapters.memory.velocity import MemoryVelocityStore
from adapters.redis.velocity import RedisVelocityStore
from core.risk.model import Counter
from core.risk.ports import VelocityUnavailable

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class Store(Protocol):
    async def record_and_count(
        self, event_id: str, counters: Sequence[Counter], at: datetime
    ) -> Sequence[int]: ...


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryVelocityStore()
        return
    redis_store = RedisVelocityStore.from_url(
        request.getfixturevalue("redis_url"), timeout_seconds=5.0
    )
    try:
        yield redis_store
    finally:
        await redis_store.aclose()


@pytest.fixture
def key() -> str:
    """Unique per test: the Redis server is shared with other tests and sessions."""
    return f"risk:{{test-{secrets.token_hex(8)}}}:card:x"


def pay(n: int) -> str:
    return f"pa_test_{n}"


async def test_each_payment_counts_itself_and_those_before_it(store: Store, key: str) -> None:
    counter = Counter(key, MINUTE)
    seen = [
        (await store.record_and_count(pay(i), [counter], T0 + timedelta(seconds=i)))[0]
        for i in range(6)
    ]
    assert seen == [1, 2, 3, 4, 5, 6]


async def test_payments_leave_the_window_as_it_slides(store: Store, key: str) -> None:
    counter = Counter(key, MINUTE)
    for i in range(3):
        await store.record_and_count(pay(i), [counter], T0 + timedelta(seconds=i * 20))
    # At T0+60s the payment of T0 is exactly one window old: out.
    [count] = await store.record_and_count(pay(9), [counter], T0 + MINUTE)
    assert count == 3
    [later] = await store.record_and_count(pay(10), [counter], T0 + timedelta(minutes=5))
    assert later == 1


async def test_one_call_answers_every_counter_in_order(store: Store, key: str) -> None:
    other = key + ":email"
    counters = [Counter(key, MINUTE), Counter(key, timedelta(days=30)), Counter(other, MINUTE)]
    await store.record_and_count(pay(1), counters[:2], T0 - timedelta(days=1))
    await store.record_and_count(pay(2), counters[:2], T0 - timedelta(seconds=30))
    counts = await store.record_and_count(pay(3), counters, T0)
    assert list(counts) == [2, 3, 1]


async def test_the_same_payment_again_counts_once(store: Store, key: str) -> None:
    counter = Counter(key, MINUTE)
    await store.record_and_count(pay(1), [counter], T0)
    assert list(await store.record_and_count(pay(1), [counter], T0 + timedelta(seconds=1))) == [1]


async def test_racing_payments_each_see_a_different_count(store: Store, key: str) -> None:
    counter = Counter(key, MINUTE)
    results = await asyncio.gather(
        *(store.record_and_count(pay(i), [counter], T0) for i in range(10))
    )
    assert sorted(r[0] for r in results) == list(range(1, 11))


async def test_no_counters_is_no_call(store: Store) -> None:
    assert list(await store.record_and_count(pay(1), [], T0)) == []


async def test_an_unreachable_redis_is_velocity_unavailable() -> None:
    dead = RedisVelocityStore.from_url("redis://127.0.0.1:1/0", timeout_seconds=0.2)
    try:
        with pytest.raises(VelocityUnavailable):
            await dead.record_and_count(pay(1), [Counter("risk:{x}:card:y", MINUTE)], T0)
    finally:
        await dead.aclose()


async def test_a_payment_is_one_round_trip_to_redis(redis_url: str, key: str) -> None:
    """Every counter of a payment, checked and recorded, in one request (the first call
    of a process also loads the script: EVALSHA, NOSCRIPT, EVAL)."""
    sent: list[bytes] = []

    class CountingConnection(redis.asyncio.Connection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sent.append(b"".join(command) if isinstance(command, list) else bytes(command))
            await super().send_packed_command(command, check_health)

    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5.0)
    client.connection_pool.connection_class = CountingConnection
    store = RedisVelocityStore(client)
    counters = [
        Counter(key, MINUTE),
        Counter(key, timedelta(days=30)),
        Counter(key + ":ip", MINUTE),
    ]
    try:
        await store.record_and_count(pay(0), counters, T0)  # warms the connection and script
        sent.clear()
        for i in range(1, 6):
            await store.record_and_count(pay(i), counters, T0 + timedelta(seconds=i))
    finally:
        await client.aclose()
    assert len(sent) == 5
    assert all(b"EVALSHA" in command for command in sent)
