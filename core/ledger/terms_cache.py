"""Merchant terms as the payment path reads them: kept per process for a bounded time.

Every capture and refund prices itself with its merchant's terms (core/ledger/hooks.py),
one read of one row that changes only when an operator sets new terms. A process keeps
what it read for `ttl` (TERMS_CACHE_TTL, 30 seconds), for at most `size` merchants (the
oldest read is dropped first): new terms reach every process's captures within the TTL;
payouts, settlements and disputes always read them afresh (docs/ledger.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.ledger.model import MerchantTerms
from core.ledger.ports import LedgerScope
from core.shared.ports import Clock

TERMS_CACHE_TTL = timedelta(seconds=30)
TERMS_CACHE_SIZE = 10_000


class TermsCache:
    def __init__(
        self, clock: Clock, *, ttl: timedelta = TERMS_CACHE_TTL, size: int = TERMS_CACHE_SIZE
    ) -> None:
        if size < 1:
            raise ValueError("the cache holds at least one merchant")
        self._clock = clock
        self._ttl = ttl
        self._size = size
        self._entries: dict[str, tuple[datetime, MerchantTerms]] = {}

    async def get(self, uow: LedgerScope, merchant_id: str) -> MerchantTerms:
        now = self._clock.now()
        kept = self._entries.get(merchant_id)
        if kept is not None and now < kept[0]:
            return kept[1]
        terms = await uow.merchant_terms.get(merchant_id)
        self._entries.pop(merchant_id, None)
        while len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]  # the oldest read
        self._entries[merchant_id] = (now + self._ttl, terms)
        return terms


class NoTermsCache:
    """Reads the terms every time (tests that change terms between captures)."""

    async def get(self, uow: LedgerScope, merchant_id: str) -> MerchantTerms:
        return await uow.merchant_terms.get(merchant_id)
