"""The rate limiter behaves the same in process, on Redis, and as two processes sharing
one Redis (each leasing part of the window's allowance and spending it locally)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from adapters.ratelimit import (
    KEY_PREFIX,
    LEASE_LIMIT_SHARE,
    LimitsRateLimiter,
    RateLimitResult,
    parse_limit,
)
from core.access.model import Principal
from core.access.ports import RateLimiter
from core.access.rate_limits import RateLimits
from core.access.roles import Role
from core.shared.errors import ResourceExhausted
from tests.fakes import FixedClock
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory


class TwoProcesses:
    """Two limiters on one Redis, as two API processes: calls go to each in turn."""

    def __init__(self, url: str) -> None:
        self.processes = [LimitsRateLimiter(url, timeout_seconds=5.0) for _ in range(2)]
        self._turn = 0

    async def hit(self, key: str, limit: str) -> RateLimitResult:
        self._turn += 1
        return await self.processes[self._turn % 2].hit(key, limit)

    async def aclose(self) -> None:
        for process in self.processes:
            await process.aclose()


@pytest.fixture(params=["memory", "redis", "redis, two processes"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    # A generous timeout: the cases test counting, not the fail-open path (tested below),
    # and a loaded machine must not turn a slow reply into a let-through.
    limiter: LimitsRateLimiter | TwoProcesses
    if request.param == "redis, two processes":
        limiter = TwoProcesses(url)
    else:
        limiter = LimitsRateLimiter(url, timeout_seconds=5.0)
    try:
        yield limiter
    finally:
        await limiter.aclose()


@pytest.fixture
async def two_processes(redis_url: str) -> AsyncIterator[TwoProcesses]:
    both = TwoProcesses(redis_url)
    try:
        yield both
    finally:
        await both.aclose()


@pytest.fixture
def key() -> str:
    """Keys unique per test: the Redis server is shared with other tests and sessions."""
    return f"test:{secrets.token_hex(8)}"


async def test_calls_within_the_limit_are_allowed(limiter: RateLimiter, key: str) -> None:
    results = [await limiter.hit(key, "5/minute") for _ in range(5)]
    assert results == [RateLimitResult(allowed=True, retry_after_seconds=0)] * 5


async def test_the_call_over_the_limit_is_refused_with_a_retry_after(
    limiter: RateLimiter, key: str
) -> None:
    for _ in range(3):
        assert (await limiter.hit(key, "3/minute")).allowed
    refused = await limiter.hit(key, "3/minute")
    assert not refused.allowed
    assert 1 <= refused.retry_after_seconds <= 60
    # Still refused: refusals do not reset anything.
    assert not (await limiter.hit(key, "3/minute")).allowed


async def test_keys_and_limits_are_counted_apart(limiter: RateLimiter, key: str) -> None:
    assert (await limiter.hit(key, "1/minute")).allowed
    assert not (await limiter.hit(key, "1/minute")).allowed
    assert (await limiter.hit(f"{key}:other", "1/minute")).allowed
    # Another limit on the same key has its own counter (per-second and per-hour, say).
    assert (await limiter.hit(key, "1/hour")).allowed


async def test_retry_after_is_bounded_by_the_window(limiter: RateLimiter, key: str) -> None:
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
    limiter: RateLimiter, key: str
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

        limiter._lease = NoRedis().hit  # type: ignore[assignment]
        again = await limiter.hit(key, "2/minute")
        assert not again.allowed
        assert 1 <= again.retry_after_seconds <= first.retry_after_seconds
    finally:
        await limiter.aclose()


async def test_a_refusal_is_answered_to_the_concurrent_calls_waiting_for_it(
    redis_url: str, key: str
) -> None:
    limiter = LimitsRateLimiter(redis_url, timeout_seconds=5.0)
    try:
        assert (await limiter.hit(key, "1/hour")).allowed
        refused = await asyncio.gather(*(limiter.hit(key, "1/hour") for _ in range(5)))
        assert not any(r.allowed for r in refused)
        assert all(1 <= r.retry_after_seconds <= 3600 for r in refused)
    finally:
        await limiter.aclose()


async def test_two_processes_admit_the_limit_and_never_more(
    two_processes: TwoProcesses, key: str
) -> None:
    """The documented bound (docs/access.md, "Rate limits"): leases are counted in Redis
    when granted, so the fleet admits at most the limit in a window; with the load spread
    over both processes they spend what they lease, so it admits about the limit: less by
    at most a lease per process (a tenth of the limit, when one goes quiet holding one)."""
    limit = 1000  # per hour: no window turns during the test
    bursts = [
        await asyncio.gather(*(two_processes.hit(key, f"{limit}/hour") for _ in range(300)))
        for _ in range(5)
    ]
    one_by_one = [await two_processes.hit(key, f"{limit}/hour") for _ in range(1000)]
    admitted = sum(r.allowed for burst in bursts for r in burst) + sum(
        r.allowed for r in one_by_one
    )
    assert limit - 2 * (limit // LEASE_LIMIT_SHARE) <= admitted <= limit
    assert not any(r.allowed for r in one_by_one[-10:])  # both refuse now


async def test_most_calls_are_decided_without_a_round_trip(redis_url: str, key: str) -> None:
    limiter = LimitsRateLimiter(redis_url, timeout_seconds=5.0)
    asked = 0
    lease = limiter._lease

    async def counted(**kwargs: Any) -> Any:
        nonlocal asked
        asked += 1
        return await lease(**kwargs)

    limiter._lease = counted  # type: ignore[assignment]
    try:
        results = [await limiter.hit(key, "100000/hour") for _ in range(200)]
    finally:
        await limiter.aclose()
    assert all(r.allowed for r in results)
    # Leases of 1, 2, 4, ... calls, then about 0.1 s of this pace each.
    assert asked <= 20


async def test_a_small_limit_is_leased_call_by_call(redis_url: str, key: str) -> None:
    # Under LEASE_LIMIT_SHARE * 2 a lease is one call: the other process may spend the last
    # call of the window, not only the one that leased first.
    first, second = (LimitsRateLimiter(redis_url, timeout_seconds=5.0) for _ in range(2))
    try:
        for _ in range(5):
            assert (await first.hit(key, "10/hour")).allowed
        for _ in range(5):
            assert (await second.hit(key, "10/hour")).allowed
        assert not (await first.hit(key, "10/hour")).allowed
        assert not (await second.hit(key, "10/hour")).allowed
    finally:
        await first.aclose()
        await second.aclose()


async def test_limits_own_scripts_count_on_the_same_keys(redis_url: str, key: str) -> None:
    """A rolling deploy: processes that still call limits' script and leasing ones share
    one count."""
    pool = redis.asyncio.ConnectionPool.from_url(redis_url)
    storage = RedisStorage(
        f"async+{redis_url}",
        implementation="redispy",
        key_prefix=KEY_PREFIX,
        connection_pool=pool,  # type: ignore[arg-type]  # passed on to redis
    )
    item = parse_limit("3/hour")
    try:
        for _ in range(3):
            assert await SlidingWindowCounterRateLimiter(storage).hit(item, key)
    finally:
        await pool.aclose()
    limiter = LimitsRateLimiter(redis_url, timeout_seconds=5.0)
    try:
        assert not (await limiter.hit(key, "3/hour")).allowed
    finally:
        await limiter.aclose()


async def test_a_dead_redis_fails_open_for_concurrent_calls_too() -> None:
    limiter = LimitsRateLimiter("redis://127.0.0.1:1/0", timeout_seconds=0.2)
    try:
        results = await asyncio.gather(*(limiter.hit("test:dead", "1/minute") for _ in range(5)))
        assert results == [RateLimitResult(allowed=True)] * 5
    finally:
        await limiter.aclose()


# --- the rate-limit policy (core/access/rate_limits.py) on each implementation -------


class Recording:
    """The limiter under test, recording which (key, limit) each call was counted against."""

    def __init__(self, inner: RateLimiter) -> None:
        self.inner = inner
        self.hits: list[tuple[str, str]] = []

    async def hit(self, key: str, limit: str) -> RateLimitResult:
        self.hits.append((key, limit))
        return await self.inner.hit(key, limit)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def recording(limiter: RateLimiter) -> Recording:
    return Recording(limiter)


@pytest.fixture
def limits(recording: Recording, clock: FixedClock) -> RateLimits:
    # Windows of a minute and more: none turns during a test.
    defaults = {
        "payments_create": ("2/minute", "3/hour"),
        "default": ("5/minute",),
        "login": ("1/minute",),
    }
    return RateLimits(recording, MemoryUnitOfWorkFactory(), clock, defaults=defaults)


async def test_every_limit_of_a_class_applies_and_refusals_spare_the_longer_ones(
    limits: RateLimits, recording: Recording, key: str
) -> None:
    for _ in range(2):
        await limits.check_merchant(key, "payments_create")
    for _ in range(3):
        with pytest.raises(ResourceExhausted) as raised:
            await limits.check_merchant(key, "payments_create")
        assert 1 <= raised.value.retry_after_seconds <= 60
        assert raised.value.metadata == {"retry_after": str(raised.value.retry_after_seconds)}
    # The refused calls were not counted against the hour.
    assert recording.hits.count((f"payments_create:acct:{key}", "3/hour")) == 2
    await limits.check_merchant(f"{key}b", "payments_create")  # merchants apart
    await limits.check_merchant(key, "")  # other classes apart ("" is default)


async def test_per_origin_classes_count_by_address(limits: RateLimits, key: str) -> None:
    await limits.check_origin(f"{key}.1", "login")
    await limits.check_origin(f"{key}.2", "login")
    with pytest.raises(ResourceExhausted):
        await limits.check_origin(f"{key}.1", "login")


async def test_a_merchant_s_own_limits_apply_and_go_back_to_the_defaults(
    limits: RateLimits, clock: FixedClock, key: str
) -> None:
    owner = Principal(key, False, "usr_ops", Role.OWNER)
    await limits.configure(owner, "payments_create", ("4/minute",))
    for _ in range(4):
        await limits.check_merchant(key, "payments_create")
    with pytest.raises(ResourceExhausted):
        await limits.check_merchant(key, "payments_create")
    await limits.configure(owner, "payments_create", ())  # back to the defaults...
    clock.advance(seconds=31)  # ...on every process within the override cache's time
    for _ in range(2):
        await limits.check_merchant(key, "payments_create")
    with pytest.raises(ResourceExhausted):
        await limits.check_merchant(key, "payments_create")
