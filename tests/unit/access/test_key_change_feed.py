"""ApiKeys' cache and the key change feed (KeyChanges): a key changed by another process is
forgotten as soon as the feed tells; when the feed is down, KEY_CACHE_TTL is the bound.

"Untold" changes are written into the memory tables directly, as no process would: what
a process does with them shows whether it trusts what it cached or reads the key again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from types import TracebackType
from typing import Any, cast

import pytest

from core.access.model import KeyType, Principal
from core.access.roles import Role
from core.access.use_cases import KEY_CACHE_TTL, ApiKeys, IssuedKey, SeededMerchant
from core.shared.errors import Unauthenticated
from core.unit_of_work import UnitOfWork
from tests.fakes import FixedClock, SequentialIds
from tests.fakes.key_changes import MemoryKeyChanges
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def uow() -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory()


@pytest.fixture
def feed(uow: MemoryUnitOfWorkFactory) -> MemoryKeyChanges:
    return uow.store.key_changes()


@pytest.fixture
def one(uow: MemoryUnitOfWorkFactory, clock: FixedClock) -> ApiKeys:
    """The process through which keys are changed."""
    return ApiKeys(uow, SequentialIds(clock), clock, changes=uow.store.key_changes())


@pytest.fixture
def other(uow: MemoryUnitOfWorkFactory, clock: FixedClock, feed: MemoryKeyChanges) -> ApiKeys:
    """Another process, following `feed`."""
    return ApiKeys(uow, SequentialIds(clock), clock, changes=feed)


@pytest.fixture
async def seeded(one: ApiKeys) -> SeededMerchant:
    return await one.seed_merchant("Two Processes")


def admin(seeded: SeededMerchant) -> Principal:
    return Principal(
        merchant_id=seeded.merchant.id,
        livemode=False,
        actor=seeded.secret_key.key.id,
        role=Role.ADMIN,
    )


def revoke_untold(uow: MemoryUnitOfWorkFactory, key: IssuedKey, at: datetime) -> None:
    uow.store.tables.api_keys[key.key.id].revoked_at = at


async def admits(keys: ApiKeys, key: IssuedKey) -> bool:
    try:
        await keys.authenticate(key.plaintext)
    except Unauthenticated:
        return False
    return True


async def test_a_key_revoked_through_another_process_is_refused_at_once(
    one: ApiKeys, other: ApiKeys, seeded: SeededMerchant
) -> None:
    key = await one.create(admin(seeded), KeyType.SECRET, Role.DEVELOPER)
    assert await admits(other, key)  # cached there
    await one.revoke(admin(seeded), key.key.id)
    assert not await admits(other, key)  # the clock has not moved: told, not timed out
    assert await admits(other, seeded.secret_key)


async def test_a_roll_and_new_ranges_are_read_again_at_once(
    one: ApiKeys, other: ApiKeys, seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory
) -> None:
    key = await one.create(admin(seeded), KeyType.SECRET, Role.DEVELOPER)
    assert await admits(other, key)
    await one.roll(admin(seeded), key.key.id)
    revoke_untold(uow, key, seeded.merchant.created)  # only a fresh read sees this
    assert not await admits(other, key)


async def test_the_usage_flush_leaves_the_other_processes_caches_alone(
    one: ApiKeys, other: ApiKeys, seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory
) -> None:
    assert await admits(one, seeded.secret_key) and await admits(other, seeded.secret_key)
    revoke_untold(uow, seeded.secret_key, seeded.merchant.created)
    assert await one.flush_usage() == 1
    assert uow.store.tables.api_keys[seeded.secret_key.key.id].usage_count == 1
    assert await admits(other, seeded.secret_key)  # still what it cached: nothing told


async def test_a_lost_feed_forgets_every_key_and_the_ttl_bounds_the_rest(
    other: ApiKeys,
    seeded: SeededMerchant,
    uow: MemoryUnitOfWorkFactory,
    feed: MemoryKeyChanges,
    clock: FixedClock,
) -> None:
    assert await admits(other, seeded.secret_key)
    revoke_untold(uow, seeded.secret_key, seeded.merchant.created)
    feed.lose()  # a change may have gone untold
    assert not await admits(other, seeded.secret_key)

    assert await admits(other, seeded.publishable_key)  # cached while the feed is down
    revoke_untold(uow, seeded.publishable_key, seeded.merchant.created)
    clock.advance(seconds=KEY_CACHE_TTL.total_seconds() - 1)
    assert await admits(other, seeded.publishable_key)
    clock.advance(seconds=1)
    assert not await admits(other, seeded.publishable_key)


async def test_listening_again_forgets_what_was_read_while_the_feed_was_down(
    one: ApiKeys,
    other: ApiKeys,
    seeded: SeededMerchant,
    uow: MemoryUnitOfWorkFactory,
    feed: MemoryKeyChanges,
) -> None:
    feed.lose()
    assert await admits(other, seeded.secret_key)
    await one.revoke(admin(seeded), seeded.secret_key.key.id)  # not told: the feed is down
    assert await admits(other, seeded.secret_key)  # within KEY_CACHE_TTL
    feed.listen()
    assert not await admits(other, seeded.secret_key)


class _ToldDuringRead:
    """A unit of work whose key read returns what it read, but only after `during` ran:
    a change told while the read was on its way."""

    def __init__(self, inner: UnitOfWork, during: Callable[[], Awaitable[None]]) -> None:
        self._inner, self._during = inner, during

    async def __aenter__(self) -> UnitOfWork:
        uow = await self._inner.__aenter__()
        read = uow.api_keys.by_lookup

        async def by_lookup(lookup: str) -> Any:
            rows = await read(lookup)
            await self._during()
            return rows

        uow.api_keys.by_lookup = by_lookup  # type: ignore[method-assign]
        return uow

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(kind, error, tb)


async def test_a_read_overtaken_by_a_change_is_not_cached(
    one: ApiKeys, seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    told = True

    async def tell() -> None:
        if told:
            other.forget(seeded.secret_key.key.lookup)

    other = ApiKeys(
        lambda: cast(UnitOfWork, _ToldDuringRead(uow(), tell)), SequentialIds(clock), clock
    )
    assert await admits(other, seeded.secret_key)  # what it read, for this call
    revoke_untold(uow, seeded.secret_key, seeded.merchant.created)
    told = False
    assert not await admits(other, seeded.secret_key)  # read again: it was not cached


async def test_without_a_change_during_the_read_the_key_is_cached(
    seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    async def nothing() -> None:
        return None

    other = ApiKeys(
        lambda: cast(UnitOfWork, _ToldDuringRead(uow(), nothing)), SequentialIds(clock), clock
    )
    assert await admits(other, seeded.secret_key)
    revoke_untold(uow, seeded.secret_key, seeded.merchant.created)
    assert await admits(other, seeded.secret_key)
