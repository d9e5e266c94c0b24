"""The velocity store on Redis: one sorted set per counted value (card fingerprint, email,
IP, device), scored by the payment's time in milliseconds, the payment's id as member.

A payment is one EVALSHA (redis-py's Script: EVALSHA, and EVAL once if the script is not
cached yet): the script trims each set to its longest window, adds the payment, sets the
set's expiry to that window, and counts every window asked for. It runs atomically, so
two API processes never both see room for the last payment of a window. A merchant's
keys share a hash tag (core.risk.rules.counter_key), so the script also runs on Redis
Cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import redis.asyncio

from adapters.redis.errors import REDIS_FAILED
from core.risk.model import Counter
from core.risk.ports import VelocityUnavailable

# KEYS: the distinct keys. ARGV: now_ms, member, then per counter: key index, window_ms.
_RECORD_AND_COUNT = """
local now = tonumber(ARGV[1])
local member = ARGV[2]
local longest = {}
local counters = {}
for i = 3, #ARGV, 2 do
  local k, w = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  counters[#counters + 1] = {k, w}
  if (longest[k] or 0) < w then longest[k] = w end
end
for k, w in pairs(longest) do
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', now - w)
  redis.call('ZADD', KEYS[k], 'NX', now, member)
  redis.call('PEXPIRE', KEYS[k], w)
end
local counts = {}
for i, c in ipairs(counters) do
  counts[i] = redis.call('ZCOUNT', KEYS[c[1]], '(' .. (now - c[2]), '+inf')
end
return counts
"""


class RedisVelocityStore:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client
        self._script = client.register_script(_RECORD_AND_COUNT)

    @classmethod
    def from_url(cls, url: str, *, timeout_seconds: float = 0.5) -> RedisVelocityStore:
        client = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
        )
        return cls(client)

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def record_and_count(
        self, event_id: str, counters: Sequence[Counter], at: datetime
    ) -> Sequence[int]:
        if not counters:
            return []
        keys = list(dict.fromkeys(c.key for c in counters))
        index = {key: i + 1 for i, key in enumerate(keys)}  # Lua counts from 1
        args: list[str | int] = [_ms(at), event_id]
        for counter in counters:
            args += [index[counter.key], int(counter.window.total_seconds() * 1000)]
        try:
            counts = await self._script(keys=keys, args=args)
        except REDIS_FAILED as error:
            raise VelocityUnavailable(type(error).__name__) from None
        return [int(count) for count in counts]


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
