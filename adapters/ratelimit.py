"""Rate limiting over the `limits` library: in-process ("memory://") or Redis ("redis://").

Sliding window counter: two counters per key and window, approximately a moving window
at a fixed window's cost, and the same Lua-scripted arithmetic in Redis and in memory.

When Redis fails the limiter lets requests through (fails open) and logs: counters are
data that may be lost (DESIGN.md), and an outage of Redis should not become an outage
of payments.

A refusal is cheap: when Redis refuses a key, the counts it answers tell for how long it
will go on refusing it whatever other processes do meanwhile (counts only grow, weights
only decay), and until then this process refuses that key itself, without a round trip
(`refused_for`). It never refuses a call Redis would have admitted.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from functools import lru_cache
from urllib.parse import urlsplit

import redis.asyncio
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from adapters.redis.errors import CLOSED_TRANSPORT
from core.access.ports import RateLimitResult

__all__ = ["KEY_PREFIX", "LimitsRateLimiter", "RateLimitResult", "parse_limit", "refused_for"]

_log = logging.getLogger(__name__)

KEY_PREFIX = "paygate:ratelimit"
_REDIS_SCHEMES = {"redis", "rediss", "unix"}
# Keys a process refuses by itself at most (the merchants over their limits right now);
# past it the table starts afresh and the next refusals ask Redis again.
MAX_LOCALLY_REFUSED = 10_000
# Redis counts time in whole milliseconds: end a local refusal this much early.
_MARGIN_SECONDS = 0.002


def refused_for(
    previous_count: int,
    previous_ttl: float,
    current_count: int,
    current_ttl: float,
    limit: int,
    expiry: float,
) -> float:
    """Seconds from the moment Redis answered these counts (limits' sliding window counter,
    ttl in seconds) during which it refuses every hit of the key, whatever hits other
    processes add: the two counts only grow and the previous window's weight only decays.

    Redis refuses while floor(previous * previous_ttl / expiry) + current + 1 > limit. Until
    the current window rolls over (current_ttl - expiry from now) that lasts while
    previous * remaining ttl / expiry >= limit - current. When the current count alone
    reaches the limit, the rollover keeps it as the previous count, and the refusal lasts
    while current * (current_ttl - t) / expiry >= limit."""
    if current_count >= limit:
        return max(0.0, current_ttl - limit * expiry / current_count - _MARGIN_SECONDS)
    if not previous_count:
        return 0.0
    within = previous_ttl - (limit - current_count) * expiry / previous_count
    if current_ttl:
        within = min(within, current_ttl - expiry)  # the rollover discards this previous
    return max(0.0, within - _MARGIN_SECONDS)


def _reset_in(
    previous_count: int, previous_ttl: float, current_count: int, current_ttl: float, expiry: float
) -> float:
    """limits' get_window_stats reset time, in seconds from the counts' moment."""
    previous = previous_ttl % (expiry / previous_count) if previous_count else math.inf
    current = current_ttl % expiry if current_count else math.inf
    return 0.0 if math.isinf(min(previous, current)) else min(previous, current)


@lru_cache(maxsize=256)
def parse_limit(limit: str) -> RateLimitItem:
    """ "100/second", "1000 per minute", "10/5 seconds" (limits' notation)."""
    try:
        return parse(limit)
    except ValueError as error:
        raise ValueError(f"not a rate limit: {limit!r}") from error


class LimitsRateLimiter:
    """`await hit(key, "100/second")` counts one call against `key` and says if it may go.

    Build it once per process and `await aclose()` it on shutdown.
    """

    def __init__(self, storage_url: str = "memory://", *, timeout_seconds: float = 0.25) -> None:
        scheme = urlsplit(storage_url).scheme
        self._pool: redis.asyncio.ConnectionPool | None = None
        self._storage: Storage
        if scheme == "memory":
            self._storage = MemoryStorage()
        elif scheme in _REDIS_SCHEMES:
            # A pool of our own, so that aclose() can close it; short timeouts, because
            # a limiter that waits on a dead Redis slows every request down.
            self._pool = redis.asyncio.ConnectionPool.from_url(
                storage_url,
                socket_timeout=timeout_seconds,
                socket_connect_timeout=timeout_seconds,
            )
            # limits names a Unix socket "redis+unix://" (redis-py: "unix://").
            scheme_prefix = "async+redis+" if scheme == "unix" else "async+"
            self._storage = RedisStorage(
                scheme_prefix + storage_url,
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                wrap_exceptions=True,
                connection_pool=self._pool,  # type: ignore[arg-type]  # passed on to redis
            )
        else:
            raise ValueError(f"rate limit storage must be memory:// or redis://, not {scheme!r}")
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        # (key, limit) -> (monotonic time until which Redis refuses it, its reset time).
        self._refused: dict[tuple[str, str], tuple[float, float]] = {}

    async def hit(self, key: str, limit: str) -> RateLimitResult:
        refused = self._refused.get((key, limit))
        if refused is not None:
            now = time.monotonic()
            if now < refused[0]:
                return RateLimitResult(False, max(1, math.ceil(refused[1] - now)))
            del self._refused[(key, limit)]
        item = parse_limit(limit)
        asked = time.monotonic()
        try:
            if await self._limiter.hit(item, key):
                return RateLimitResult(allowed=True)
            # Only a refusal pays for the second round trip: the counts behind it.
            window = await self._storage.get_sliding_window(  # type: ignore[attr-defined]
                item.key_for(key), item.get_expiry()
            )
        except (StorageError, CLOSED_TRANSPORT) as error:
            _log.warning("rate limiter storage failed, letting the call through: %r", error)
            return RateLimitResult(allowed=True)
        expiry = item.get_expiry()
        previous, previous_ttl, current, current_ttl = window
        reset_in = _reset_in(previous, previous_ttl, current, current_ttl, expiry)
        if self._pool is not None:  # in memory there is no round trip to save
            lasts = refused_for(previous, previous_ttl, current, current_ttl, item.amount, expiry)
            if lasts > 0:
                if len(self._refused) >= MAX_LOCALLY_REFUSED:
                    self._refused.clear()
                # From when the question left: Redis answered later, so this ends early.
                self._refused[(key, limit)] = (asked + lasts, asked + reset_in)
        return RateLimitResult(allowed=False, retry_after_seconds=max(1, math.ceil(reset_in)))

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        elif isinstance(self._storage, MemoryStorage) and self._storage.timer is not None:
            # The in-memory storage expires keys from a background task: stop it.
            timer = self._storage.timer
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
