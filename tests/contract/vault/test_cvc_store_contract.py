"""core.vault.ports.CvcStore: process memory and Redis behave the same."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import redis.asyncio

from adapters.memory.cvc_store import MemoryCvcStore
from adapters.redis.cvc_store import KEY_PREFIX, RedisCvcStore
from adapters.system import SystemClock
from core.shared.errors import Unavailable
from core.vault.ports import CvcStore

clock = SystemClock()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CvcStore]:
    if request.param == "memory":
        yield MemoryCvcStore(clock)
        return
    redis_store = RedisCvcStore.from_url(request.getfixturevalue("redis_url"), clock)
    try:
        yield redis_store
    finally:
        await redis_store.aclose()


@pytest.fixture
def key() -> str:
    """Unique per test: the Redis server is shared with other tests and sessions."""
    return f"tok_test{secrets.token_hex(8)}"


async def test_pop_takes_the_sealed_bytes_once(store: CvcStore, key: str) -> None:
    sealed = b"\x01dek_x\x00\x00\x00\x01" + secrets.token_bytes(40)
    await store.put(key, sealed, expires_at=clock.now() + timedelta(minutes=15))
    assert await store.pop(key) == sealed
    assert await store.pop(key) is None


async def test_a_second_put_replaces_the_first(store: CvcStore, key: str) -> None:
    await store.put(key, b"first", expires_at=clock.now() + timedelta(minutes=1))
    await store.put(key, b"second", expires_at=clock.now() + timedelta(minutes=1))
    assert await store.pop(key) == b"second"


async def test_entries_expire(store: CvcStore, key: str) -> None:
    await store.put(key, b"short", expires_at=clock.now() + timedelta(milliseconds=150))
    await store.put(key + "x", b"gone", expires_at=clock.now() - timedelta(seconds=1))
    await asyncio.sleep(0.3)
    assert await store.pop(key) is None
    assert await store.pop(key + "x") is None


async def test_discard_forgets_and_is_idempotent(store: CvcStore, key: str) -> None:
    await store.put(key, b"sealed", expires_at=clock.now() + timedelta(minutes=1))
    await store.discard(key)
    await store.discard(key)
    assert await store.pop(key) is None


async def test_racing_pops_give_the_cvc_to_one_caller(store: CvcStore, key: str) -> None:
    await store.put(key, b"once", expires_at=clock.now() + timedelta(minutes=1))
    results = await asyncio.gather(*(store.pop(key) for _ in range(10)))
    assert sorted(results, key=lambda r: r is None) == [b"once"] + [None] * 9


async def test_redis_entries_have_a_ttl_of_minutes(redis_url: str, key: str) -> None:
    store = RedisCvcStore.from_url(redis_url, clock)
    raw = redis.asyncio.Redis.from_url(redis_url)
    try:
        await store.put(key, b"sealed", expires_at=clock.now() + timedelta(minutes=15))
        ttl = await raw.pttl(KEY_PREFIX + key)
        assert 14 * 60_000 < ttl <= 15 * 60_000
    finally:
        await store.discard(key)
        await store.aclose()
        await raw.aclose()


async def test_a_redis_outage_is_unavailable(key: str) -> None:
    store = RedisCvcStore.from_url("redis://127.0.0.1:1/0", clock, timeout_seconds=0.2)
    try:
        for call in (
            store.put(key, b"x", expires_at=clock.now() + timedelta(minutes=1)),
            store.pop(key),
            store.discard(key),
        ):
            with pytest.raises(Unavailable) as raised:
                await call
            assert raised.value.reason == "VAULT_CVC_STORE_UNAVAILABLE"
    finally:
        await store.aclose()
