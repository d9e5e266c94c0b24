"""The rate limiter behaves the same in process and on Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from adapters.ratelimit import LimitsRateLimiter, RateLimitResult, parse_limit


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[LimitsRateLimiter]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    # A generous timeout: the cases test counting, not the fail-open path (tested below),
    # and a loaded machine must not turn a slow reply into a let-through.
    limiter = LimitsRateLimiter(url, timeout_seconds=5.0)
    try:
        yield limiter
    finally:
        await limiter.aclose()


@pytest.fixture
def key() -> str:
    """Keys unique per test: the Redis server is shared with other tests and sessions."""
    return f"test:{secrets.token_hex(8)}"


async def test_calls_within_the_limit_are_allowed(limiter: LimitsRateLimiter, key: str) -> None:
    results = [await limiter.hit(key, "5/minute") for _ in range(5)]
    assert results == [RateLimitResult(allowed=True, retry_after_seconds=0)] * 5


async def test_the_call_over_the_limit_is_refused_with_a_retry_after(
    limiter: LimitsRateLimiter, key: str
) -> None:
    for _ in range(3):
        assert (await limiter.hit(key, "3/minute")).allowed
    refused = await limiter.hit(key, "3/minute")
    assert not refused.allowed
    assert 1 <= refused.retry_after_seconds <= 60
    # Still refused: refusals do not reset anything.
    assert not (await limiter.hit(key, "3/minute")).allowed


async def test_keys_and_limits_are_counted_apart(limiter: LimitsRateLimiter, key: str) -> None:
    assert (await limiter.hit(key, "1/minute")).allowed
    assert not (await limiter.hit(key, "1/minute")).allowed
    assert (await limiter.hit(f"{key}:other", "1/minute")).allowed
    # Another limit on the same key has its own counter (per-second and per-hour, say).
    assert (await limiter.hit(key, "1/hour")).allowed


async def test_retry_after_is_bounded_by_the_window(limiter: LimitsRateLimiter, key: str) -> None:
    assert (await limiter.hit(key, "1/second")).allowed
    refused = await limiter.hit(key, "1/second")
    assert (refused.allowed, refused.retry_after_seconds) == (False, 1)


def test_a_malformed_limit_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a rate limit"):
        parse_limit("lots")
    assert parse_limit("100 per second").amount == 100


def test_an_unknown_storage_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="memory:// or redis://"):
        LimitsRateLimiter("memcached://localhost")


async def test_a_dead_redis_fails_open() -> None:
    limiter = LimitsRateLimiter("redis://127.0.0.1:1/0", timeout_seconds=0.2)
    try:
        for _ in range(3):
            assert await limiter.hit("test:dead", "1/minute") == RateLimitResult(allowed=True)
    finally:
        await limiter.aclose()


async def test_concurrent_hits_let_through_exactly_the_limit(
    limiter: LimitsRateLimiter, key: str
) -> None:
    # The check and the increment are one atomic step (a Lua script in Redis), so a
    # burst of concurrent calls cannot all read "9 of 10" and all pass.
    results = await asyncio.gather(*(limiter.hit(key, "10/hour") for _ in range(40)))
    assert sum(r.allowed for r in results) == 10


async def test_a_key_redis_refuses_is_refused_again_without_asking_it(
    redis_url: str, key: str
) -> None:
    """Over its limit in the current window, a key stays refused until the window turns:
    the process answers that itself, with the same retry-after, and Redis sees no call."""
    limiter = LimitsRateLimiter(redis_url, timeout_seconds=5.0)
    try:
        assert (await limiter.hit(key, "2/minute")).allowed
        assert (await limiter.hit(key, "2/minute")).allowed
        first = await limiter.hit(key, "2/minute")
        assert not first.allowed

        class NoRedis:
            async def hit(self, *args: object, **kwargs: object) -> bool:
                raise AssertionError("asked Redis")

        limiter._limiter = NoRedis()  # type: ignore[assignment]
        again = await limiter.hit(key, "2/minute")
        assert not again.allowed
        assert 1 <= again.retry_after_seconds <= first.retry_after_seconds
    finally:
        await limiter.aclose()
