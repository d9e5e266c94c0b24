"""The business profiles that every create reads (accepted currencies, default capture),
kept per process for a short, bounded time.

A profile changed through this process is forgotten at once; one changed through
another API process reaches this one within PROFILE_CACHE_TTL (docs/dashboard.md). The
values it holds only shape new intents, never money already moved.
"""

from __future__ import annotations

from datetime import timedelta

from core.account.ports import AccountScope
from core.account.profile import BusinessProfile
from core.shared.cache import TtlCache
from core.shared.ports import Clock

# How long a process trusts what it last read of a merchant's profile.
PROFILE_CACHE_TTL = timedelta(seconds=5)


class ProfileCache:
    def __init__(self, clock: Clock, ttl: timedelta = PROFILE_CACHE_TTL) -> None:
        # None is cached too: no such merchant (yet) is an answer for the TTL as well.
        self._cache: TtlCache[BusinessProfile | None] = TtlCache(clock, ttl)

    async def get(self, scope: AccountScope, merchant_id: str) -> BusinessProfile | None:
        """The merchant's profile, read through `scope` when not known or too old."""
        return await self._cache.get(merchant_id, lambda: scope.business_profiles.get(merchant_id))

    def forget(self, merchant_id: str) -> None:
        """The profile changed through this process: the next read goes to the store."""
        self._cache.forget(merchant_id)
