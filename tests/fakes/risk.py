"""A velocity store that counts the round trips made to it (over the in-process one)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from adapters.memory.velocity import MemoryVelocityStore
from core.risk.model import Counter


class CountingVelocityStore:
    def __init__(self) -> None:
        self.inner = MemoryVelocityStore()
        self.calls = 0

    async def record_and_count(
        self, event_id: str, counters: Sequence[Counter], at: datetime
    ) -> Sequence[int]:
        self.calls += 1
        return await self.inner.record_and_count(event_id, counters, at)
