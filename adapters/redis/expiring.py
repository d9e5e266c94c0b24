"""What the Redis stores of short-lived values share (the sealed CVCs, the card profiles
handed over with a token): a client of their own, a key prefix, and a TTL that is the
rest of the value's lifetime by the gateway's clock."""

from __future__ import annotations

import math
from datetime import datetime
from typing import ClassVar, Self

import redis.asyncio

from core.shared.ports import Clock


class ExpiringValues:
    # Every key of the store starts with this (a subclass names its own).
    PREFIX: ClassVar[str]
    # How long a command may wait for Redis before the store's outage policy applies.
    TIMEOUT_SECONDS: ClassVar[float] = 1.0

    def __init__(
        self, client: redis.asyncio.Redis, clock: Clock, *, prefix: str | None = None
    ) -> None:
        self._redis = client
        self._clock = clock
        self._prefix = self.PREFIX if prefix is None else prefix

    @classmethod
    def from_url(cls, url: str, clock: Clock, *, timeout_seconds: float | None = None) -> Self:
        timeout = cls.TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds
        client = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        return cls(client, clock)

    async def aclose(self) -> None:
        await self._redis.aclose()

    def _ttl_ms(self, expires_at: datetime) -> int:
        """Milliseconds left until `expires_at`; 0 or less: already expired, not stored."""
        return math.floor((expires_at - self._clock.now()).total_seconds() * 1000)
