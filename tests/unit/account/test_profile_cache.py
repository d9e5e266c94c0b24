"""The creates' cache of business profiles: a change through this process applies to the
next create at once; one made elsewhere (straight in the store here) within the TTL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from core.access.model import Principal
from core.access.roles import Role
from core.account.profile import ProfileUpdate
from core.account.profile_cache import PROFILE_CACHE_TTL
from core.payments.model import CaptureMethod
from core.payments.use_cases import CreatePaymentIntent
from core.shared.errors import InvalidArgument
from servers.bootstrap.app import App
from tests.fakes import FixedClock, in_memory_app
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 12, 6, 12, 0, tzinfo=UTC))


@pytest.fixture
def uow() -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory()


@pytest.fixture
def app(uow: MemoryUnitOfWorkFactory, clock: FixedClock) -> App:
    return in_memory_app(uow, clock=clock)


@pytest.fixture
async def merchant(app: App) -> Principal:
    seeded = await app.api_keys.seed_merchant("Acme Coffee")
    return Principal(seeded.merchant.id, False, seeded.secret_key.key.id, Role.ADMIN)


async def test_a_change_through_this_process_applies_to_the_next_create(
    app: App, merchant: Principal
) -> None:
    first = await app.payment_intents.create(merchant, CreatePaymentIntent(500, "usd"))
    assert first.capture_method is CaptureMethod.AUTOMATIC  # the profile is now cached
    update = ProfileUpdate(
        values={"accepted_currencies": ("EUR",), "default_capture_method": CaptureMethod.MANUAL}
    )
    await app.business_profiles.update(merchant, update)
    second = await app.payment_intents.create(merchant, CreatePaymentIntent(500, "eur"))
    assert second.capture_method is CaptureMethod.MANUAL
    with pytest.raises(InvalidArgument) as raised:
        await app.payment_intents.create(merchant, CreatePaymentIntent(500, "usd"))
    assert raised.value.reason == "CURRENCY_NOT_ACCEPTED"


async def test_a_change_made_elsewhere_applies_within_the_ttl(
    app: App, merchant: Principal, uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    await app.payment_intents.create(merchant, CreatePaymentIntent(500, "usd"))
    async with uow() as scope:  # another API process's update: this one is not told
        profile = await scope.business_profiles.get(merchant.merchant_id)
        assert profile is not None
        await scope.business_profiles.save(replace(profile, accepted_currencies=("EUR",)))
        await scope.commit()
    clock.advance(seconds=PROFILE_CACHE_TTL.total_seconds() - 0.001)
    stale = await app.payment_intents.create(merchant, CreatePaymentIntent(500, "usd"))
    assert stale.currency == "USD"  # still the profile read before the change
    clock.advance(seconds=0.001)
    with pytest.raises(InvalidArgument) as raised:
        await app.payment_intents.create(merchant, CreatePaymentIntent(500, "usd"))
    assert raised.value.reason == "CURRENCY_NOT_ACCEPTED"
