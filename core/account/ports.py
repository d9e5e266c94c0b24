"""What the account context needs from the outside world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.account.profile import BusinessProfile


@dataclass(frozen=True)
class OnboardingFacts:
    """What the account has done so far, as the onboarding checklist asks."""

    api_key_created: bool  # a secret key was ever created (revoked ones count)
    webhook_endpoint_set: bool  # an endpoint exists and is not disabled
    test_payment_made: bool  # a test-mode intent received money


class BusinessProfileRepository(Protocol):
    async def get(self, merchant_id: str) -> BusinessProfile | None:
        """The merchant's profile (the defaults when it never saved one); None when there
        is no such merchant."""
        ...

    async def save(self, profile: BusinessProfile) -> None:
        """Writes every field (business_name to the merchant itself)."""
        ...

    async def onboarding(self, merchant_id: str) -> OnboardingFacts: ...


class AccountScope(Protocol):
    """The account context's repositories in a unit of work (core/unit_of_work.py)."""

    business_profiles: BusinessProfileRepository
