"""Merchant terms kept per process for a bounded time and a bounded number of merchants."""

from __future__ import annotations

from typing import Any, cast

from core.ledger.model import MerchantTerms
from core.ledger.ports import LedgerScope
from core.ledger.terms_cache import TermsCache
from tests.fakes import FixedClock


class CountingTerms:
    def __init__(self) -> None:
        self.stored: dict[str, MerchantTerms] = {}
        self.reads: list[str] = []

    async def get(self, merchant_id: str) -> MerchantTerms:
        self.reads.append(merchant_id)
        return self.stored.get(merchant_id, MerchantTerms())


class Scope:
    def __init__(self) -> None:
        self.merchant_terms = CountingTerms()


def scope() -> tuple[LedgerScope, CountingTerms]:
    made = Scope()
    return cast(Any, made), made.merchant_terms


async def test_terms_are_read_once_per_ttl() -> None:
    clock, (uow, terms) = FixedClock(), scope()
    cache = TermsCache(clock)
    assert await cache.get(uow, "acct_a") == MerchantTerms()
    terms.stored["acct_a"] = MerchantTerms(settlement_delay_days=7)
    assert await cache.get(uow, "acct_a") == MerchantTerms()  # kept
    clock.advance(seconds=29)
    assert await cache.get(uow, "acct_a") == MerchantTerms()
    clock.advance(seconds=1)  # the TTL is the bound on how stale they may be
    assert await cache.get(uow, "acct_a") == MerchantTerms(settlement_delay_days=7)
    assert terms.reads == ["acct_a", "acct_a"]


async def test_the_oldest_read_is_dropped_beyond_the_size() -> None:
    clock, (uow, terms) = FixedClock(), scope()
    cache = TermsCache(clock, size=2)
    for merchant in ("acct_a", "acct_b", "acct_c", "acct_b", "acct_a"):
        await cache.get(uow, merchant)
    assert terms.reads == ["acct_a", "acct_b", "acct_c", "acct_a"]
