"""ApiKeys use-cases against the in-memory unit of work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, cast

import pytest

from core.access.audit import Action, Outcome
from core.access.model import KeyType, Principal
from core.access.roles import Role, may_grant, permissions_of
from core.access.use_cases import KEY_CACHE_TTL, ApiKeys, IssuedKey, SeededMerchant
from core.shared.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from core.unit_of_work import UnitOfWork
from tests.fakes import FixedClock, SequentialIds, admin_of
from tests.fakes.key_changes import MemoryKeyChanges
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def uow() -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory()


@pytest.fixture
def keys(uow: MemoryUnitOfWorkFactory, clock: FixedClock) -> ApiKeys:
    return ApiKeys(uow, SequentialIds(clock), clock)


@pytest.fixture
async def seeded(keys: ApiKeys) -> SeededMerchant:
    return await keys.seed_merchant("Test Bakery")


async def assert_refused(keys: ApiKeys, plaintext: str) -> None:
    with pytest.raises(Unauthenticated) as raised:
        await keys.authenticate(plaintext)
    assert raised.value.reason == "INVALID_API_KEY"
    assert raised.value.message == "Invalid API key provided."  # the same for every failure


# --- seeding and what is stored ---------------------------------------------------------


async def test_seeding_stores_the_merchant_and_two_hashed_keys(
    seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory
) -> None:
    tables = uow.store.tables
    assert tables.merchants == {seeded.merchant.id: seeded.merchant}
    secret, publishable = seeded.secret_key, seeded.publishable_key
    assert secret.plaintext.startswith("sk_test_")
    assert publishable.plaintext.startswith("pk_test_")
    assert (secret.key.role, publishable.key.role) == (Role.ADMIN, None)
    for issued in (secret, publishable):
        stored = tables.api_keys[issued.key.id]
        assert stored.lookup == issued.plaintext[: len("sk_test_") + 8]
        assert stored.last4 == issued.plaintext[-4:]
        assert stored.matches(issued.plaintext)
        assert issued.plaintext.encode() not in stored.secret_hash
        assert (stored.usage_count, stored.last_used_at, stored.revoked_at) == (0, None, None)


# --- authenticate ----------------------------------------------------------------------


async def test_a_secret_key_authenticates_as_its_merchant(
    keys: ApiKeys, seeded: SeededMerchant
) -> None:
    principal = await keys.authenticate(seeded.secret_key.plaintext)
    assert principal == Principal(
        merchant_id=seeded.merchant.id,
        livemode=False,
        actor=seeded.secret_key.key.id,
        role=Role.ADMIN,
        is_publishable=False,
    )
    assert "api_keys:write" in principal.permissions


async def test_a_publishable_key_authenticates_without_a_role(
    keys: ApiKeys, seeded: SeededMerchant
) -> None:
    principal = await keys.authenticate(seeded.publishable_key.plaintext)
    assert (principal.is_publishable, principal.role, principal.permissions) == (
        True,
        None,
        frozenset(),
    )


async def test_each_authentication_is_counted(
    keys: ApiKeys, seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    await keys.authenticate(seeded.secret_key.plaintext)
    latest = clock.advance(minutes=5)
    await keys.authenticate(seeded.secret_key.plaintext)
    stored = uow.store.tables.api_keys[seeded.secret_key.key.id]
    assert (stored.usage_count, stored.last_used_at) == (0, None)  # counted off the request

    assert await keys.flush_usage() == 1
    stored = uow.store.tables.api_keys[seeded.secret_key.key.id]
    assert (stored.usage_count, stored.last_used_at) == (2, latest)
    assert await keys.flush_usage() == 0  # nothing counted twice


async def test_a_key_revoked_elsewhere_stops_working_within_the_cache_time(
    keys: ApiKeys, seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    other_process = ApiKeys(uow, SequentialIds(), clock)
    await keys.authenticate(seeded.secret_key.plaintext)  # cached here
    await other_process.revoke(admin_of(seeded), seeded.secret_key.key.id)
    with pytest.raises(Unauthenticated):  # at once where it was revoked
        await other_process.authenticate(seeded.secret_key.plaintext)
    clock.advance(seconds=KEY_CACHE_TTL.total_seconds() - 1)
    await keys.authenticate(seeded.secret_key.plaintext)  # still trusted: within the bound
    clock.advance(seconds=1)
    with pytest.raises(Unauthenticated):
        await keys.authenticate(seeded.secret_key.plaintext)
    assert uow.store.tables.api_keys[seeded.publishable_key.key.id].usage_count == 0


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # right lookup, wrong secret
        lambda k: "sk_test_" + "0" * 32,  # unknown lookup
        lambda k: k.replace("sk_", "rk_"),  # not a paygate key
        lambda k: "",
        lambda k: k + "x" * 200,  # absurdly long
    ],
    ids=["wrong-secret", "unknown", "bad-prefix", "empty", "too-long"],
)
async def test_a_wrong_key_is_refused_and_not_counted(
    keys: ApiKeys, seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory, mangle: object
) -> None:
    await assert_refused(keys, mangle(seeded.secret_key.plaintext))  # type: ignore[operator]
    assert uow.store.tables.api_keys[seeded.secret_key.key.id].usage_count == 0


# --- create, list, revoke --------------------------------------------------------------


async def test_created_keys_authenticate_and_list_newest_first(
    keys: ApiKeys, seeded: SeededMerchant
) -> None:
    admin = admin_of(seeded)
    staff = await keys.create(admin, KeyType.SECRET, Role.STAFF)
    default_role = await keys.create(admin, KeyType.SECRET, None)

    assert (await keys.authenticate(staff.plaintext)).role is Role.STAFF
    assert default_role.key.role is Role.ADMIN

    page = await keys.list(admin, limit=3)
    assert [k.id for k in page.data] == [
        default_role.key.id,
        staff.key.id,
        seeded.publishable_key.key.id,
    ]
    assert page.has_more
    rest = await keys.list(admin, limit=3, starting_after=page.data[-1].id)
    assert ([k.id for k in rest.data], rest.has_more) == ([seeded.secret_key.key.id], False)


@pytest.mark.parametrize(
    ("key_type", "role", "field"),
    [(None, None, "type"), (KeyType.PUBLISHABLE, Role.ADMIN, "role")],
)
async def test_create_names_the_bad_field_and_writes_nothing(
    keys: ApiKeys,
    seeded: SeededMerchant,
    uow: MemoryUnitOfWorkFactory,
    key_type: KeyType | None,
    role: Role | None,
    field: str,
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await keys.create(admin_of(seeded), key_type, role)
    assert raised.value.metadata["param"] == field
    assert len(uow.store.tables.api_keys) == 2


async def test_a_revoked_key_is_refused(
    keys: ApiKeys, seeded: SeededMerchant, clock: FixedClock
) -> None:
    admin = admin_of(seeded)
    issued = await keys.create(admin, KeyType.SECRET, Role.DEVELOPER)
    await keys.authenticate(issued.plaintext)

    revoked_at = clock.advance(seconds=30)
    revoked = await keys.revoke(admin, issued.key.id)
    assert (revoked.revoked_at, revoked.active) == (revoked_at, False)
    await assert_refused(keys, issued.plaintext)

    # Revoking again changes nothing; the other keys still work.
    clock.advance(seconds=30)
    assert (await keys.revoke(admin, issued.key.id)).revoked_at == revoked_at
    await keys.authenticate(seeded.secret_key.plaintext)


async def test_revoking_a_key_of_another_merchant_is_not_found(
    keys: ApiKeys, seeded: SeededMerchant
) -> None:
    other = await keys.seed_merchant("Other Shop")
    with pytest.raises(NotFound):
        await keys.revoke(admin_of(seeded), other.secret_key.key.id)
    with pytest.raises(NotFound):
        await keys.revoke(admin_of(seeded), "key_doesnotexist")
    await keys.authenticate(other.secret_key.plaintext)


class _UnderscoreSecrets(SequentialIds):
    """token_urlsafe() draws from A-Z a-z 0-9 - _, so a key's random part may hold `_`."""

    def secret(self, nbytes: int = 24) -> str:
        return "abcdefgh_" + super().secret(nbytes)[9:]


async def test_the_clear_lookup_holds_only_eight_random_characters(
    uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    keys = ApiKeys(uow, _UnderscoreSecrets(clock), clock)
    seeded = await keys.seed_merchant("Underscore Ltd")
    assert seeded.secret_key.key.lookup == "sk_test_abcdefgh"


# --- roles of new keys, roll, audit ------------------------------------------------------


def caller_with(seeded: SeededMerchant, role: Role) -> Principal:
    return Principal(seeded.merchant.id, False, f"usr_{role.value.lower()}", role)


@pytest.mark.parametrize(
    ("caller_role", "asked", "granted"),
    [
        (Role.OWNER, None, Role.ADMIN),
        (Role.OWNER, Role.OWNER, Role.OWNER),
        (Role.ADMIN, Role.OWNER, None),
        (Role.DEVELOPER, None, Role.DEVELOPER),  # not ADMIN: that would be an escalation
        (Role.DEVELOPER, Role.ADMIN, None),
        (Role.DEVELOPER, Role.STAFF, Role.STAFF),
    ],
)
async def test_a_key_never_gets_more_rights_than_its_creator(
    keys: ApiKeys,
    seeded: SeededMerchant,
    caller_role: Role,
    asked: Role | None,
    granted: Role | None,
) -> None:
    caller = caller_with(seeded, caller_role)
    if granted is None:
        with pytest.raises(PermissionDenied) as raised:
            await keys.create(caller, KeyType.SECRET, asked)
        assert raised.value.reason == "ROLE_NOT_GRANTABLE"
    else:
        assert (await keys.create(caller, KeyType.SECRET, asked)).key.role is granted


@pytest.mark.parametrize("caller_role", [r for r in Role if "api_keys:write" in permissions_of(r)])
@pytest.mark.parametrize("target_role", list(Role))
@pytest.mark.parametrize("operation", ["revoke", "roll"])
async def test_keys_are_managed_only_by_callers_who_could_grant_their_role(
    keys: ApiKeys, seeded: SeededMerchant, caller_role: Role, target_role: Role, operation: str
) -> None:
    """Every operation on an existing key follows the ordering of creating it."""
    owner = caller_with(seeded, Role.OWNER)
    target = (await keys.create(owner, KeyType.SECRET, target_role)).key
    caller = caller_with(seeded, caller_role)

    async def act() -> object:
        if operation == "revoke":
            return await keys.revoke(caller, target.id)
        return await keys.roll(caller, target.id)

    if may_grant(caller_role, target_role):
        await act()
    else:
        with pytest.raises(PermissionDenied) as raised:
            await act()
        assert raised.value.reason == "ROLE_NOT_GRANTABLE"
        listed = {key.id: key for key in (await keys.list(owner)).data}
        assert listed[target.id].active and listed[target.id].expires_at is None


async def test_rolling_keeps_the_old_key_for_the_grace_period(
    keys: ApiKeys, seeded: SeededMerchant, clock: FixedClock, uow: MemoryUnitOfWorkFactory
) -> None:
    admin = admin_of(seeded)
    old = seeded.secret_key
    new = await keys.roll(admin, old.key.id, grace=timedelta(hours=1))
    assert (new.key.type, new.key.role, new.key.livemode) == (KeyType.SECRET, Role.ADMIN, False)
    assert new.plaintext != old.plaintext and new.plaintext not in repr(new)

    clock.advance(minutes=59)
    await keys.authenticate(old.plaintext)
    await keys.authenticate(new.plaintext)
    clock.advance(minutes=1)
    await assert_refused(keys, old.plaintext)
    await keys.authenticate(new.plaintext)

    listed = {k.id: k for k in (await keys.list(admin, limit=10)).data}
    assert listed[old.key.id].expires_at == clock.now()
    event = uow.store.tables.audit_events[-1]
    assert (event.action, event.target, event.details["new_key"]) == (
        Action.API_KEY_ROLL, old.key.id, new.key.id,
    )  # fmt: skip
    assert old.plaintext not in str(uow.store.tables.audit_events)


async def test_roll_defaults_to_a_day_and_zero_revokes_at_once(
    keys: ApiKeys, seeded: SeededMerchant, clock: FixedClock
) -> None:
    admin = admin_of(seeded)
    await keys.roll(admin, seeded.secret_key.key.id)
    clock.advance(hours=23, minutes=59)
    await keys.authenticate(seeded.secret_key.plaintext)
    clock.advance(minutes=1)
    await assert_refused(keys, seeded.secret_key.plaintext)

    await keys.roll(admin, seeded.publishable_key.key.id, grace=timedelta(0))
    await assert_refused(keys, seeded.publishable_key.plaintext)


async def test_roll_refuses_rolled_revoked_unknown_keys_and_bad_grace(
    keys: ApiKeys, seeded: SeededMerchant
) -> None:
    admin = admin_of(seeded)
    await keys.roll(admin, seeded.secret_key.key.id)
    with pytest.raises(FailedPrecondition):
        await keys.roll(admin, seeded.secret_key.key.id)  # rolled already
    await keys.revoke(admin, seeded.publishable_key.key.id)
    with pytest.raises(FailedPrecondition):
        await keys.roll(admin, seeded.publishable_key.key.id)
    with pytest.raises(NotFound):
        await keys.roll(admin, "key_nope")
    other = await keys.seed_merchant("Other")
    with pytest.raises(NotFound):
        await keys.roll(admin, other.secret_key.key.id)
    for grace in (timedelta(seconds=-1), timedelta(days=8)):
        with pytest.raises(InvalidArgument) as raised:
            await keys.roll(admin, other.publishable_key.key.id, grace=grace)
        assert raised.value.metadata["param"] == "grace_period_seconds"


async def test_creation_and_revocation_are_audited_without_the_secret(
    keys: ApiKeys, seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory
) -> None:
    admin = admin_of(seeded)
    issued = await keys.create(admin, KeyType.SECRET, Role.STAFF)
    await keys.revoke(admin, issued.key.id)
    created, revoked = uow.store.tables.audit_events[-2:]
    assert (created.action, revoked.action) == (Action.API_KEY_CREATE, Action.API_KEY_REVOKE)
    assert created.actor == revoked.actor == admin.actor
    assert created.details == {"type": "SECRET", "role": "STAFF", "prefix": issued.key.lookup}
    assert issued.plaintext not in str(uow.store.tables.audit_events)


async def test_a_secret_pasted_as_an_id_is_not_echoed(
    keys: ApiKeys, seeded: SeededMerchant
) -> None:
    other = await keys.seed_merchant("Other")
    with pytest.raises(NotFound) as raised:
        await keys.revoke(admin_of(seeded), other.secret_key.plaintext)
    assert other.secret_key.plaintext[:12] not in raised.value.message
    with pytest.raises(NotFound) as known:
        await keys.revoke(admin_of(seeded), other.secret_key.key.id)
    assert other.secret_key.key.id in known.value.message


# --- IP allow-lists (core/access/ip_allowlist.py) ------------------------------------------


async def test_a_key_with_ranges_works_inside_and_is_refused_and_audited_outside(
    keys: ApiKeys, seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    issued = await keys.create(admin_of(seeded), KeyType.SECRET, None, ["127.0.0.1"])
    assert issued.key.allowed_ips == ("127.0.0.1/32",)
    principal = await keys.authenticate(issued.plaintext, "127.0.0.1")
    assert principal.actor == issued.key.id

    for _ in range(3):  # a burst from one address: one audit record, not three
        with pytest.raises(PermissionDenied) as refused:
            await keys.authenticate(issued.plaintext, "127.0.0.2")
        assert refused.value.reason == "IP_NOT_ALLOWED"
    denials = [e for e in uow.store.tables.audit_events if e.action is Action.API_KEY_IP_DENIED]
    assert [(e.outcome, e.actor, e.origin, e.merchant_id) for e in denials] == [
        (Outcome.DENIED, issued.key.id, "127.0.0.2", seeded.merchant.id)
    ]
    assert issued.plaintext not in str(denials)

    clock.advance(seconds=61)
    with pytest.raises(PermissionDenied):
        await keys.authenticate(issued.plaintext, "127.0.0.2")
    denials = [e for e in uow.store.tables.audit_events if e.action is Action.API_KEY_IP_DENIED]
    assert len(denials) == 2


async def test_updating_the_ranges_applies_at_once_in_this_process(
    keys: ApiKeys, seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory
) -> None:
    admin = admin_of(seeded)
    issued = await keys.create(admin, KeyType.SECRET, None)
    await keys.authenticate(issued.plaintext, "127.0.0.2")  # cached: any address

    updated = await keys.set_allowed_ips(admin, issued.key.id, ["127.0.0.1/32"])
    assert updated.allowed_ips == ("127.0.0.1/32",)
    with pytest.raises(PermissionDenied):
        await keys.authenticate(issued.plaintext, "127.0.0.2")
    event = uow.store.tables.audit_events[-2]
    assert (event.action, event.details["allowed_ips"]) == (Action.API_KEY_UPDATE, "127.0.0.1/32")

    await keys.set_allowed_ips(admin, issued.key.id, [])
    await keys.authenticate(issued.plaintext, "127.0.0.2")


async def test_another_process_sees_the_change_within_the_cache_ttl(
    uow: MemoryUnitOfWorkFactory, clock: FixedClock, seeded: SeededMerchant, keys: ApiKeys
) -> None:
    other = ApiKeys(uow, SequentialIds(clock), clock)
    issued = await keys.create(admin_of(seeded), KeyType.SECRET, None)
    await other.authenticate(issued.plaintext, "127.0.0.2")
    await keys.set_allowed_ips(admin_of(seeded), issued.key.id, ["127.0.0.1"])
    clock.advance(seconds=KEY_CACHE_TTL.total_seconds())
    with pytest.raises(PermissionDenied):
        await other.authenticate(issued.plaintext, "127.0.0.2")


async def test_bad_ranges_are_invalid_argument_and_change_nothing(
    keys: ApiKeys, seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory
) -> None:
    admin = admin_of(seeded)
    before = len(uow.store.tables.api_keys)
    with pytest.raises(InvalidArgument) as raised:
        await keys.create(admin, KeyType.SECRET, None, ["127.0.0.1", "not-a-network"])
    assert [v.field for v in raised.value.violations] == ["allowed_ips[1]"]
    assert len(uow.store.tables.api_keys) == before

    key_id = seeded.secret_key.key.id
    with pytest.raises(InvalidArgument):
        await keys.set_allowed_ips(admin, key_id, ["10.0.0.1/8"])
    assert uow.store.tables.api_keys[key_id].allowed_ips == ()


async def test_a_publishable_key_cannot_be_restricted(
    keys: ApiKeys, seeded: SeededMerchant
) -> None:
    admin = admin_of(seeded)
    with pytest.raises(InvalidArgument) as raised:
        await keys.create(admin, KeyType.PUBLISHABLE, None, ["127.0.0.1"])
    assert [v.field for v in raised.value.violations] == ["allowed_ips"]
    with pytest.raises(InvalidArgument):
        await keys.set_allowed_ips(admin, seeded.publishable_key.key.id, ["127.0.0.1"])


async def test_a_rolled_key_keeps_its_ranges_and_a_revoked_one_cannot_change(
    keys: ApiKeys, seeded: SeededMerchant
) -> None:
    admin = admin_of(seeded)
    issued = await keys.create(admin, KeyType.SECRET, None, ["127.0.0.1"])
    rolled = await keys.roll(admin, issued.key.id)
    assert rolled.key.allowed_ips == ("127.0.0.1/32",)
    await keys.revoke(admin, issued.key.id)
    with pytest.raises(FailedPrecondition):
        await keys.set_allowed_ips(admin, issued.key.id, [])


# --- the key change feed: a key changed by another process is forgotten when told -------
# "Untold" changes are written into the memory tables directly, as no process would: what
# a process does with them shows whether it trusts what it cached or reads the key again.


@pytest.fixture
def feed(uow: MemoryUnitOfWorkFactory) -> MemoryKeyChanges:
    return uow.store.key_changes()


@pytest.fixture
def other(uow: MemoryUnitOfWorkFactory, clock: FixedClock, feed: MemoryKeyChanges) -> ApiKeys:
    """Another process, following `feed`."""
    return ApiKeys(uow, SequentialIds(clock), clock, changes=feed)


def revoke_untold(uow: MemoryUnitOfWorkFactory, key: IssuedKey, at: datetime) -> None:
    uow.store.tables.api_keys[key.key.id].revoked_at = at


async def admits(keys: ApiKeys, key: IssuedKey) -> bool:
    try:
        await keys.authenticate(key.plaintext)
    except Unauthenticated:
        return False
    return True


async def test_a_key_revoked_through_another_process_is_refused_at_once(
    keys: ApiKeys, other: ApiKeys, seeded: SeededMerchant
) -> None:
    key = await keys.create(admin_of(seeded), KeyType.SECRET, Role.DEVELOPER)
    assert await admits(other, key)  # cached there
    await keys.revoke(admin_of(seeded), key.key.id)
    assert not await admits(other, key)  # the clock has not moved: told, not timed out
    assert await admits(other, seeded.secret_key)


async def test_a_roll_and_new_ranges_are_read_again_at_once(
    keys: ApiKeys, other: ApiKeys, seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory
) -> None:
    key = await keys.create(admin_of(seeded), KeyType.SECRET, Role.DEVELOPER)
    assert await admits(other, key)
    await keys.roll(admin_of(seeded), key.key.id)
    revoke_untold(uow, key, seeded.merchant.created)  # only a fresh read sees this
    assert not await admits(other, key)


async def test_the_usage_flush_leaves_the_other_processes_caches_alone(
    keys: ApiKeys, other: ApiKeys, seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory
) -> None:
    assert await admits(keys, seeded.secret_key) and await admits(other, seeded.secret_key)
    revoke_untold(uow, seeded.secret_key, seeded.merchant.created)
    assert await keys.flush_usage() == 1
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
    keys: ApiKeys,
    other: ApiKeys,
    seeded: SeededMerchant,
    uow: MemoryUnitOfWorkFactory,
    feed: MemoryKeyChanges,
) -> None:
    feed.lose()
    assert await admits(other, seeded.secret_key)
    await keys.revoke(admin_of(seeded), seeded.secret_key.key.id)  # not told: the feed is down
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
    keys: ApiKeys, seeded: SeededMerchant, uow: MemoryUnitOfWorkFactory, clock: FixedClock
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
