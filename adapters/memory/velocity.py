"""The velocity store in this process: for a gateway of one API process (without
REDIS_URL). Several processes would each count on their own; use Redis for them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from core.risk.model import Counter

# Every this many calls, keys whose newest payment is older than their longest window
# are dropped, so that cards never seen again do not stay in memory.
_SWEEP_EVERY = 1_000


class _Series:
    __slots__ = ("events", "expires")

    def __init__(self, expires: datetime) -> None:
        self.events: dict[str, datetime] = {}  # payment id -> when
        self.expires = expires  # when its newest payment leaves its longest window


class MemoryVelocityStore:
    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}
        self._calls = 0

    async def record_and_count(
        self, event_id: str, counters: Sequence[Counter], at: datetime
    ) -> Sequence[int]:
        # No await inside: one step, as the Redis script is.
        longest: dict[str, timedelta] = {}
        for counter in counters:
            longest[counter.key] = max(longest.get(counter.key, counter.window), counter.window)
        for key, window in longest.items():
            series = self._series.setdefault(key, _Series(at + window))
            series.events = {e: t for e, t in series.events.items() if t > at - window}
            series.events.setdefault(event_id, at)
            series.expires = at + window
        counts = [
            sum(1 for t in self._series[c.key].events.values() if t > at - c.window)
            for c in counters
        ]
        self._sweep(at)
        return counts

    def _sweep(self, at: datetime) -> None:
        self._calls += 1
        if self._calls % _SWEEP_EVERY:
            return
        for key in [k for k, s in self._series.items() if s.expires <= at]:
            del self._series[key]
