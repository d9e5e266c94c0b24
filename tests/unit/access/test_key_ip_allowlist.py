"""Per-key IP allow-lists: validation, refusal from outside the ranges, the audit trail."""

from __future__ import annotations

import pytest

from core.access import ip_allowlist
from core.access.audit import Action, Outcome
from core.access.model import KeyType
from core.access.use_cases import KEY_CACHE_TTL, ApiKeys, SeededMerchant
from core.shared.errors import FailedPrecondition, InvalidArgument, PermissionDenied, Violations
from tests.fakes import FixedClock, SequentialIds
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory
from tests.unit.access.test_api_key_use_cases import admin_of


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


def parsed(values: list[str]) -> tuple[tuple[str, ...], list[str]]:
    violations = Violations()
    networks = ip_allowlist.parse_allowed_ips(values, violations)
    try:
        violations.raise_if_any()
    except InvalidArgument as error:
        return networks, [v.field for v in error.violations]
    return networks, []


def test_networks_are_normalized_and_deduplicated() -> None:
    assert parsed(["127.0.0.1", " 10.1.0.0/16", "127.0.0.1/32", "::1"]) == (
        ("127.0.0.1/32", "10.1.0.0/16", "::1/128"),
        [],
    )


@pytest.mark.parametrize("bad", ["", "nope", "10.0.0.1/8", "300.1.1.1", "10.0.0.0/33", "1.2.3"])
def test_a_bad_network_is_named_by_its_index(bad: str) -> None:
    assert parsed(["127.0.0.1", bad])[1] == ["allowed_ips[1]"]


def test_too_many_networks_are_refused() -> None:
    many = [f"10.0.{i}.0/24" for i in range(ip_allowlist.MAX_NETWORKS + 1)]
    assert parsed(many)[1] == ["allowed_ips"]


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", False),
        ("::ffff:127.0.0.1", True),  # an IPv4 client seen on a dual-stack socket
        ("10.2.3.4", True),
        ("unix", False),
        ("", False),
    ],
)
def test_allows_only_addresses_inside_a_range(origin: str, allowed: bool) -> None:
    assert ip_allowlist.allows(("127.0.0.1/32", "10.0.0.0/8"), origin) is allowed


def test_no_networks_means_anywhere() -> None:
    assert ip_allowlist.allows((), "unix")


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
