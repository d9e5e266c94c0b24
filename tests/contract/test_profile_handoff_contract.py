"""adapters/vault/profile_handoff.py ProfileHandoff: the same cases on Redis (the split
gateway's) and in memory. A profile is taken once, by its token; a store that cannot be
reached is no error, only no shortcut."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from adapters.redis.card_profiles import KEY_PREFIX, RedisProfileHandoff
from adapters.vault.profile_handoff import (
    HandedOff,
    MemoryProfileHandoff,
    ProfileHandoff,
    handoff_key,
)
from core.payments.ports import CardProfile
from tests.fakes import FixedClock

PROFILE = CardProfile(
    brand="visa",
    last4="4242",
    iin="424242",
    fingerprint="fp_1",
    funding="credit",
    country="US",
    test_card=True,
)
HANDED = HandedOff("acct_1", False, PROFILE)


@pytest.fixture(params=["memory", "redis"])
async def handoff(
    request: pytest.FixtureRequest, redis_url: str
) -> AsyncIterator[tuple[ProfileHandoff, FixedClock]]:
    clock = FixedClock()
    if request.param == "memory":
        yield MemoryProfileHandoff(clock), clock
        return
    # Keys of their own on the shared server.
    prefix = f"{KEY_PREFIX}test:{secrets.token_hex(4)}:"
    store = RedisProfileHandoff(Redis.from_url(redis_url), clock, prefix=prefix)
    try:
        yield store, clock
    finally:
        await store.aclose()


def token() -> str:
    return f"tok_{secrets.token_hex(8)}"


async def test_a_profile_is_taken_once_by_its_token(
    handoff: tuple[ProfileHandoff, FixedClock],
) -> None:
    store, clock = handoff
    mine, other = token(), token()
    await store.put(mine, HANDED, expires_at=clock.now() + timedelta(minutes=15))
    assert await store.take(other) is None
    assert await store.take(mine) == HANDED
    assert await store.take(mine) is None


async def test_every_field_survives(handoff: tuple[ProfileHandoff, FixedClock]) -> None:
    store, clock = handoff
    handed = HandedOff(
        "acct_2",
        True,
        CardProfile("mastercard", "4444", "555555", "fp_2", "debit", "", test_card=False),
    )
    tok = token()
    await store.put(tok, handed, expires_at=clock.now() + timedelta(minutes=1))
    assert await store.take(tok) == handed


async def test_a_token_past_its_expiry_hands_nothing_over(
    handoff: tuple[ProfileHandoff, FixedClock],
) -> None:
    store, clock = handoff
    tok = token()
    await store.put(tok, HANDED, expires_at=clock.now())
    assert await store.take(tok) is None


async def test_redis_keeps_a_profile_no_longer_than_its_token(redis_url: str) -> None:
    clock = FixedClock()
    prefix = f"{KEY_PREFIX}test:{secrets.token_hex(4)}:"
    client = Redis.from_url(redis_url)
    store = RedisProfileHandoff(client, clock, prefix=prefix)
    try:
        tok = token()
        await store.put(tok, HANDED, expires_at=clock.now() + timedelta(minutes=15))
        ttl_ms = await client.pttl(prefix + handoff_key(tok))
        assert 0 < ttl_ms <= 15 * 60 * 1000
        # The token id itself is in no key.
        keys = [key async for key in client.scan_iter(f"{prefix}*")]
        assert len(keys) == 1
        assert tok.encode() not in keys[0]
    finally:
        await store.aclose()


async def test_the_memory_store_forgets_at_the_tokens_expiry() -> None:
    clock = FixedClock()
    store = MemoryProfileHandoff(clock)
    tok = token()
    await store.put(tok, HANDED, expires_at=clock.now() + timedelta(minutes=15))
    clock.advance(minutes=15)
    assert await store.take(tok) is None


async def test_redis_out_of_reach_is_no_error_only_no_profile() -> None:
    clock = FixedClock()
    # A loopback port nothing listens on.
    store = RedisProfileHandoff.from_url("redis://127.0.0.1:1/0", clock, timeout_seconds=0.2)
    try:
        tok = token()
        await store.put(tok, HANDED, expires_at=clock.now() + timedelta(minutes=15))
        assert await store.take(tok) is None
    finally:
        await store.aclose()
