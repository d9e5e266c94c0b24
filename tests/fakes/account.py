"""In-memory business profiles, on the fake unit of work's tables."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from core.access.model import KeyType, Merchant
from core.account.ports import OnboardingFacts
from core.account.profile import BusinessProfile

if TYPE_CHECKING:
    from tests.fakes.unit_of_work import Tables


class MemoryBusinessProfiles:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def get(self, merchant_id: str) -> BusinessProfile | None:
        merchant = self._t.merchants.get(merchant_id)
        if merchant is None:
            return None
        saved = self._t.business_profiles.get(merchant_id)
        if saved is None:
            return BusinessProfile(merchant_id=merchant_id, business_name=merchant.name)
        return replace(saved, business_name=merchant.name)

    async def save(self, profile: BusinessProfile) -> None:
        merchant = self._t.merchants[profile.merchant_id]
        self._t.merchants[merchant.id] = Merchant(
            id=merchant.id, name=profile.business_name, created=merchant.created
        )
        self._t.business_profiles[profile.merchant_id] = profile

    async def onboarding(self, merchant_id: str) -> OnboardingFacts:
        return OnboardingFacts(
            api_key_created=any(
                k.merchant_id == merchant_id and k.type is KeyType.SECRET
                for k in self._t.api_keys.values()
            ),
            webhook_endpoint_set=any(
                e.merchant_id == merchant_id and not e.disabled
                for e in self._t.webhooks.endpoints.values()
            ),
            test_payment_made=any(
                i.merchant_id == merchant_id and not i.livemode and i.amount_received > 0
                for i in self._t.payment_intents.values()
            ),
        )
