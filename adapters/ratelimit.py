"""Rate limiting with the `limits` library's sliding window counter: in process
("memory://") or shared by every API process through Redis ("redis://").

Sliding window counter: two counters per key and window, approximately a moving window
at a fixed window's cost, and the same arithmetic in Redis and in memory.

On Redis a process does not ask for each call: it leases a few calls of the window's
allowance at once (LEASE_SCRIPT: limits' acquire script, granting up to `wanted` instead
of exactly one, on the same keys) and spends them locally, without I/O, until they run
out or the window they were counted in ends; then it leases again. The lease is counted
when granted, so the fleet never admits more than the limit: what a process holds unspent
when it goes quiet or the window ends is allowance lost, at most one lease per process
and key (`lease_size`: about 0.1 s of the process's own calls, at most a tenth of the
limit and a quarter of what is left of it; one call for a limit under 20). See
docs/access.md, "Rate limits".

When Redis fails the limiter lets requests through (fails open) and logs: counters are
data that may be lost (DESIGN.md), and an outage of Redis should not become an outage
of payments.

A refusal is cheap: when Redis refuses a key, the counts it answers with the refusal (in
the same round trip) tell for how long it will go on refusing it whatever other
processes do meanwhile (counts only grow, weights only decay), and until then this
process refuses that key itself, without a round trip (`refused_for`). It never refuses
a call Redis would have admitted.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import redis.asyncio
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from adapters.redis.errors import REDIS_FAILED
from core.access.ports import RateLimitResult

__all__ = [
    "KEY_PREFIX",
    "LEASE_SCRIPT",
    "Lease",
    "LimitsRateLimiter",
    "RateLimitResult",
    "lease_size",
    "parse_limit",
    "refused_for",
]

_log = logging.getLogger(__name__)

KEY_PREFIX = "paygate:ratelimit"
_REDIS_SCHEMES = {"redis", "rediss", "unix"}
# Keys a process refuses by itself at most (the merchants over their limits right now);
# past it the table starts afresh and the next refusals ask Redis again.
MAX_LOCALLY_REFUSED = 10_000
# Keys a process holds leases for at most; past it those whose window has ended go, and
# if none has, the table starts afresh (the leases' calls are lost, never added).
MAX_LEASES = 10_000
# Redis counts time in whole milliseconds: end a local refusal or a lease this much early.
_MARGIN_SECONDS = 0.002
# A lease covers about this much of the process's own traffic on the key...
LEASE_SECONDS = 0.1
# ...and at most this share of the limit (so a limit under 20 is leased call by call)...
LEASE_LIMIT_SHARE = 10
# ...and Redis grants at most this share of what is left of the window's allowance (at
# least one call), so that the last calls of a window go to whichever process asks.
LEASE_LEFT_SHARE = 4

# limits' acquire_sliding_window.lua (limits 5), on the same two keys, granting up to
# ARGV[3] calls (at least one, at most a LEASE_LEFT_SHARE-th of what is left) instead of
# exactly one, and answering the counts with the grant: {granted, previous count,
# previous ttl ms, current count, current ttl ms}. With ARGV[3] = 1 it is limits' script.
LEASE_SCRIPT = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local left_share = tonumber(ARGV[4])

local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
if current_ttl > 0 and current_ttl < expiry then
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end

local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
local previous_ttl = math.max(0, tonumber(redis.call('pttl', KEYS[1])))
local current_count = tonumber(redis.call('get', KEYS[2])) or 0
current_ttl = math.max(0, tonumber(redis.call('pttl', KEYS[2])))

local left = limit - math.floor(previous_count * previous_ttl / expiry) - current_count
local granted = 0
if left >= 1 then
    granted = math.min(wanted, math.max(1, math.floor(left / left_share)))
    if redis.call('exists', KEYS[2]) == 1 then
        current_count = redis.call('incrby', KEYS[2], granted)
    else
        redis.call('set', KEYS[2], granted, 'PX', expiry * 2)
        current_count = granted
        current_ttl = expiry * 2
    end
end
return {granted, previous_count, previous_ttl, current_count, current_ttl}
"""


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


def lease_size(limit: int, granted: int, spent: int, seconds: float) -> int:
    """Calls to ask for, the last lease having granted `granted` of which `spent` were
    spent in `seconds`: about LEASE_SECONDS of the calls at that pace, at most twice the
    last lease (a first lease is one call) and a LEASE_LIMIT_SHARE-th of the limit."""
    pace = math.ceil(spent * LEASE_SECONDS / seconds) if seconds > 0 else spent
    return max(1, min(limit // LEASE_LIMIT_SHARE, 2 * max(1, granted), pace))


@dataclass
class Lease:
    """Calls of one key's window this process was granted and has not spent yet."""

    calls: int = 0
    until: float = 0.0  # monotonic time the window they were counted in ends (early)
    granted: int = 0  # what the last lease granted...
    asked_at: float = 0.0  # ...when it was asked
    # The lease under way, that concurrent calls of the key wait for rather than each
    # asking Redis: it resolves to their answer, or to None (look at the lease again).
    pending: asyncio.Future[RateLimitResult | None] | None = None

    def take(self, now: float) -> bool:
        if self.calls > 0 and now < self.until:
            self.calls -= 1
            return True
        return False

    def wanted(self, limit: int, now: float) -> int:
        return lease_size(limit, self.granted, self.granted - self.calls, now - self.asked_at)

    def grant(self, granted: int, asked: float, current_ttl: float, expiry: float) -> None:
        """Redis granted `granted` calls (one of them for the call that asked) counted in
        the window whose current key has `current_ttl` seconds left, at `asked`."""
        self.granted, self.asked_at = granted, asked
        # The current key turns previous when its ttl falls under the expiry: from the
        # moment the question left, which is before Redis answered, so this ends early.
        self.until = asked + current_ttl - expiry - _MARGIN_SECONDS
        self.calls = granted - 1


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
        self._memory: MemoryStorage | None = None
        if scheme == "memory":
            self._memory = MemoryStorage()
            self._limiter = SlidingWindowCounterRateLimiter(self._memory)
        elif scheme in _REDIS_SCHEMES:
            # A pool of our own, so that aclose() can close it; short timeouts, because
            # a limiter that waits on a dead Redis slows every request down.
            self._pool = redis.asyncio.ConnectionPool.from_url(
                storage_url,
                socket_timeout=timeout_seconds,
                socket_connect_timeout=timeout_seconds,
            )
            self._lease = redis.asyncio.Redis(connection_pool=self._pool).register_script(
                LEASE_SCRIPT
            )
        else:
            raise ValueError(f"rate limit storage must be memory:// or redis://, not {scheme!r}")
        # (key, limit) -> (monotonic time until which Redis refuses it, its reset time).
        self._refused: dict[tuple[str, str], tuple[float, float]] = {}
        self._leases: dict[tuple[str, str], Lease] = {}

    async def hit(self, key: str, limit: str) -> RateLimitResult:
        refused = self._refused.get((key, limit))
        if refused is not None:
            now = time.monotonic()
            if now < refused[0]:
                return RateLimitResult(False, max(1, math.ceil(refused[1] - now)))
            del self._refused[(key, limit)]
        if self._pool is None:  # in memory there is no round trip to save
            return await self._hit_in_memory(key, limit)
        lease = self._leases.get((key, limit))
        if lease is None:
            lease = self._leases[(key, limit)] = self._new_lease()
        while True:
            if lease.take(time.monotonic()):
                return RateLimitResult(allowed=True)
            if lease.pending is None:
                return await self._lease_and_hit(key, limit, lease)
            answer = await asyncio.shield(lease.pending)
            if answer is not None:
                return answer

    def _new_lease(self) -> Lease:
        if len(self._leases) >= MAX_LEASES:
            now = time.monotonic()
            for held, lease in list(self._leases.items()):
                if lease.until <= now and lease.pending is None:
                    del self._leases[held]
            if len(self._leases) >= MAX_LEASES:
                self._leases.clear()
        return Lease()

    async def _lease_and_hit(self, key: str, limit: str, lease: Lease) -> RateLimitResult:
        """Asks Redis for a lease of the key's window; concurrent calls of the key wait for
        it and spend what it grants, or share its refusal."""
        item = parse_limit(limit)
        expiry = item.get_expiry()
        asked = time.monotonic()
        waiting = lease.pending = asyncio.get_running_loop().create_future()
        shared: RateLimitResult | None = None  # the waiters' answer: None, look again
        try:
            try:
                granted, previous, previous_ms, current, current_ms = await self._lease(
                    keys=[_key(item, key, previous=True), _key(item, key, previous=False)],
                    args=[
                        item.amount,
                        expiry * 1000,
                        lease.wanted(item.amount, asked),
                        LEASE_LEFT_SHARE,
                    ],
                )
            except REDIS_FAILED as error:
                _log.warning("rate limiter storage failed, letting the call through: %r", error)
                shared = RateLimitResult(allowed=True)
                return shared
            if granted:
                lease.grant(int(granted), asked, int(current_ms) / 1000, expiry)
                return RateLimitResult(allowed=True)
            shared = self._refusal(
                key, limit, item, asked, previous, previous_ms, current, current_ms
            )
            return shared
        finally:
            lease.pending = None
            waiting.set_result(shared)

    def _refusal(
        self,
        key: str,
        limit: str,
        item: RateLimitItem,
        asked: float,
        previous: int,
        previous_ms: int,
        current: int,
        current_ms: int,
    ) -> RateLimitResult:
        """The answer to a call Redis refused, from the counts it answered with."""
        expiry = item.get_expiry()
        previous_ttl, current_ttl = int(previous_ms) / 1000, int(current_ms) / 1000
        previous, current = int(previous), int(current)
        reset_in = _reset_in(previous, previous_ttl, current, current_ttl, expiry)
        lasts = refused_for(previous, previous_ttl, current, current_ttl, item.amount, expiry)
        if lasts > 0:
            if len(self._refused) >= MAX_LOCALLY_REFUSED:
                self._refused.clear()
            # From when the question left: Redis answered later, so this ends early.
            self._refused[(key, limit)] = (asked + lasts, asked + reset_in)
        return RateLimitResult(allowed=False, retry_after_seconds=max(1, math.ceil(reset_in)))

    async def _hit_in_memory(self, key: str, limit: str) -> RateLimitResult:
        item = parse_limit(limit)
        if await self._limiter.hit(item, key):
            return RateLimitResult(allowed=True)
        assert self._memory is not None
        expiry = item.get_expiry()
        window = await self._memory.get_sliding_window(item.key_for(key), expiry)
        reset_in = _reset_in(*window, expiry)
        return RateLimitResult(allowed=False, retry_after_seconds=max(1, math.ceil(reset_in)))

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        elif self._memory is not None and self._memory.timer is not None:
            # The in-memory storage expires keys from a background task: stop it.
            timer = self._memory.timer
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)


def _key(item: RateLimitItem, key: str, *, previous: bool) -> str:
    """limits' Redis keys for the sliding window counter of `key` under `item`: a rolling
    deploy's old and new processes count on the same keys."""
    current = f"{KEY_PREFIX}:{{{item.key_for(key)}}}"
    return f"{current}/-1" if previous else current
