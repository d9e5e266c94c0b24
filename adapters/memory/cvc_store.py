"""The CVC store in process memory: `core.vault.ports.CvcStore` with a time to live.

A sealed CVC (encrypted by the vault under the merchant's data key) lives here from
tokenization until the one authorization that uses it, at most as long as its token (15
minutes); nothing writes it to disk, a log or a database. Expired entries are dropped on
every call (a heap ordered by expiry), and the store holds at most `max_entries` (the
soonest to expire go first), so memory stays bounded under any load.

One process only: when the vault runs as several replicas, use the Redis store
(adapters/redis/cvc_store.py), which keeps the same sealed bytes with a TTL.
"""

from __future__ import annotations

import heapq
from datetime import datetime

from core.shared.ports import Clock


class MemoryCvcStore:
    def __init__(self, clock: Clock, *, max_entries: int = 100_000) -> None:
        self._clock = clock
        self._max = max_entries
        self._entries: dict[str, tuple[datetime, bytes]] = {}
        self._expiries: list[tuple[datetime, str]] = []

    async def put(self, key: str, sealed: bytes, *, expires_at: datetime) -> None:
        self._sweep()
        if expires_at <= self._clock.now():
            return
        self._entries[key] = (expires_at, bytes(sealed))
        heapq.heappush(self._expiries, (expires_at, key))
        while len(self._entries) > self._max:
            self._drop_first()

    async def pop(self, key: str) -> bytes | None:
        self._sweep()
        entry = self._entries.pop(key, None)
        return entry[1] if entry is not None else None

    async def discard(self, key: str) -> None:
        self._entries.pop(key, None)
        self._sweep()

    def __len__(self) -> int:
        self._sweep()
        return len(self._entries)

    def _sweep(self) -> None:
        now = self._clock.now()
        while self._expiries and self._expiries[0][0] <= now:
            self._drop_first()

    def _drop_first(self) -> None:
        expires_at, key = heapq.heappop(self._expiries)
        entry = self._entries.get(key)
        # A heap line is stale when the key was popped or put again with another expiry.
        if entry is not None and entry[0] == expires_at:
            del self._entries[key]
