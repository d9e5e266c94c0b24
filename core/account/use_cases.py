"""The business profile: read, change (audited), and the onboarding checklist."""

from __future__ import annotations

from dataclasses import dataclass

from core.access.audit import Action, caller_event
from core.access.model import Principal
from core.account.profile import BusinessProfile, ProfileUpdate, apply_update, changed_fields
from core.account.profile_cache import ProfileCache
from core.shared.errors import NotFound
from core.shared.ports import Clock
from core.unit_of_work import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class OnboardingChecklist:
    missing_profile_fields: tuple[str, ...]
    api_key_created: bool
    webhook_endpoint_set: bool
    test_payment_made: bool

    @property
    def profile_complete(self) -> bool:
        return not self.missing_profile_fields

    @property
    def complete(self) -> bool:
        return (
            self.profile_complete
            and self.api_key_created
            and self.webhook_endpoint_set
            and self.test_payment_made
        )


class BusinessProfiles:
    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, cache: ProfileCache | None = None
    ) -> None:
        self._uow = uow
        self._clock = clock
        # The creates' cache of this process (core/account/profile_cache.py).
        self._cache = cache

    async def get(self, caller: Principal) -> BusinessProfile:
        async with self._uow() as uow:
            return await _profile_of(uow, caller.merchant_id)

    async def update(self, caller: Principal, update: ProfileUpdate) -> BusinessProfile:
        async with self._uow() as uow:
            before = await _profile_of(uow, caller.merchant_id)
            after = apply_update(before, update, self._clock.now())
            changed = changed_fields(before, after)
            if not changed:
                return before
            assert after.updated is not None
            await uow.business_profiles.save(after)
            await uow.audit.append(
                caller_event(
                    caller,
                    Action.PROFILE_UPDATE,
                    after.updated,
                    target=caller.merchant_id,
                    details={"fields": ",".join(changed)},
                )
            )
            await uow.commit()
        if self._cache is not None:
            self._cache.forget(caller.merchant_id)
        return after

    async def checklist(self, caller: Principal) -> OnboardingChecklist:
        async with self._uow() as uow:
            profile = await _profile_of(uow, caller.merchant_id)
            facts = await uow.business_profiles.onboarding(caller.merchant_id)
        return OnboardingChecklist(
            missing_profile_fields=profile.missing_fields,
            api_key_created=facts.api_key_created,
            webhook_endpoint_set=facts.webhook_endpoint_set,
            test_payment_made=facts.test_payment_made,
        )


async def _profile_of(uow: UnitOfWork, merchant_id: str) -> BusinessProfile:
    profile = await uow.business_profiles.get(merchant_id)
    if profile is None:  # the caller's own account: gone only if deleted under it
        raise NotFound("No such account.")
    return profile
