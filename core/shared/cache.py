"""A short per-process cache of what a merchant configured (rate limits, risk settings,
business profile, terms), so that a request costs no extra query; a change reaches every
process within `ttl`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from core.shared.ports import Clock

T = TypeVar("T")

# Bounded: past this many merchants the oldest read is dropped (an entry costs one query).
MAX_ENTRIES = 10_000


class TtlCache(Generic[T]):
    def __init__(self, clock: Clock, ttl: timedelta, *, size: int = MAX_ENTRIES) -> None:
        if size < 1:
            raise ValueError("the cache holds at least one entry")
        self._clock = clock
        self._ttl = ttl
        self._size = size
        self._entries: dict[str, tuple[datetime, T]] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        now = self._clock.now()
        cached = self._entries.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        value = await load()
        # Re-inserted at the end, so the dict's order is the order of reads.
        self._entries.pop(key, None)
        while len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (now, value)
        return value

    def forget(self, key: str) -> None:
        """After a change made here: this process sees it at once."""
        self._entries.pop(key, None)
