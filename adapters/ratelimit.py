"""Rate limiting over the `limits` library: in-process ("memory://") or Redis ("redis://").

Sliding window counter: two counters per key and window, approximately a moving window
at a fixed window's cost, and the same Lua-scripted arithmetic in Redis and in memory.

When Redis fails the limiter lets requests through (fails open) and logs: counters are
data that may be lost (DESIGN.md), and an outage of Redis should not become an outage
of payments.
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

__all__ = ["KEY_PREFIX", "LimitsRateLimiter", "RateLimitResult", "parse_limit"]

_log = logging.getLogger(__name__)

KEY_PREFIX = "paygate:ratelimit"
_REDIS_SCHEMES = {"redis", "rediss", "unix"}


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

    async def hit(self, key: str, limit: str) -> RateLimitResult:
        item = parse_limit(limit)
        try:
            if await self._limiter.hit(item, key):
                return RateLimitResult(allowed=True)
            # Only a refusal pays for the second round trip.
            stats = await self._limiter.get_window_stats(item, key)
        except (StorageError, CLOSED_TRANSPORT) as error:
            _log.warning("rate limiter storage failed, letting the call through: %r", error)
            return RateLimitResult(allowed=True)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimitResult(allowed=False, retry_after_seconds=wait)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        elif isinstance(self._storage, MemoryStorage) and self._storage.timer is not None:
            # The in-memory storage expires keys from a background task: stop it.
            timer = self._storage.timer
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
