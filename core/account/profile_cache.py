"""The business profiles that every create reads (accepted currencies, default capture),
kept per process for a short, bounded time.

A profile changed through this process is forgotten at once; one changed through
another API process reaches this one within PROFILE_CACHE_TTL (docs/dashboard.md). The
values it holds only shape new intents, never money already moved.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.account.ports import AccountScope
from core.account.profile import BusinessProfile
from core.shared.ports import Clock

# How long a process trusts what it last read of a merchant's profile.
PROFILE_CACHE_TTL = timedelta(seconds=5)
# Profiles cached per process at most; past it the cache starts over.
PROFILE_CACHE_SIZE = 10_000


class ProfileCache:
    def __init__(self, clock: Clock, ttl: timedelta = PROFILE_CACHE_TTL) -> None:
        self._clock = clock
        self._ttl = ttl
        # merchant id -> (read at, its profile or None for no such merchant)
        self._entries: dict[str, tuple[datetime, BusinessProfile | None]] = {}

    async def get(self, scope: AccountScope, merchant_id: str) -> BusinessProfile | None:
        """The merchant's profile, read through `scope` when not known or too old."""
        now = self._clock.now()
        known = self._entries.get(merchant_id)
        if known is not None and now - known[0] < self._ttl:
            return known[1]
        profile = await scope.business_profiles.get(merchant_id)
        if len(self._entries) >= PROFILE_CACHE_SIZE:
            self._entries.clear()
        self._entries[merchant_id] = (now, profile)
        return profile

    def forget(self, merchant_id: str) -> None:
        """The profile changed through this process: the next read goes to the store."""
        self._entries.pop(merchant_id, None)
