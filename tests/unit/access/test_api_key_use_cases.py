"""ApiKeys use-cases against the in-memory unit of work."""

from __future__ import annotations

import pytest

from adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from core.access.model import KeyType, Principal
from core.access.roles import Role
from core.access.use_cases import ApiKeys, SeededMerchant
from core.shared.errors import InvalidArgument, NotFound, Unauthenticated
from tests.fakes import FixedClock, SequentialIds


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


def admin_of(seeded: SeededMerchant) -> Principal:
    return Principal(
        merchant_id=seeded.merchant.id,
        livemode=False,
        actor=seeded.secret_key.key.id,
        role=Role.ADMIN,
    )


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
    assert (stored.usage_count, stored.last_used_at) == (2, latest)
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
