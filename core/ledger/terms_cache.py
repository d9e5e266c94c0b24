"""Merchant terms as the payment path reads them: kept per process for a bounded time.

Every capture and refund prices itself with its merchant's terms (core/ledger/hooks.py),
one read of one row that changes only when an operator sets new terms. A process keeps
what it read for `ttl` (TERMS_CACHE_TTL, 30 seconds), for at most `size` merchants (the
oldest read is dropped first): new terms reach every process's captures within the TTL;
payouts, settlements and disputes always read them afresh (docs/ledger.md).
"""

from __future__ import annotations

from datetime import timedelta

from core.ledger.model import MerchantTerms
from core.ledger.ports import LedgerScope
from core.shared.cache import TtlCache
from core.shared.ports import Clock

TERMS_CACHE_TTL = timedelta(seconds=30)
TERMS_CACHE_SIZE = 10_000


class TermsCache:
    def __init__(
        self, clock: Clock, *, ttl: timedelta = TERMS_CACHE_TTL, size: int = TERMS_CACHE_SIZE
    ) -> None:
        self._cache: TtlCache[MerchantTerms] = TtlCache(clock, ttl, size=size)

    async def get(self, uow: LedgerScope, merchant_id: str) -> MerchantTerms:
        return await self._cache.get(merchant_id, lambda: uow.merchant_terms.get(merchant_id))


class NoTermsCache:
    """Reads the terms every time (tests that change terms between captures)."""

    async def get(self, uow: LedgerScope, merchant_id: str) -> MerchantTerms:
        return await uow.merchant_terms.get(merchant_id)
