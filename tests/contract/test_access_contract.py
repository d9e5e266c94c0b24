"""MerchantRepository and ApiKeyRepository: PostgreSQL and the in-memory fake agree."""

from __future__ import annotations

from dataclasses import replace

from adapters.system import RandomIds
from core.access.model import ApiKey, KeyType, Merchant, hash_key, lookup_of
from core.access.roles import Role
from core.unit_of_work import UnitOfWorkFactory
from tests.contract.helpers import T0, add_merchant, later


def new_key(
    ids: RandomIds,
    merchant_id: str,
    *,
    key_type: KeyType = KeyType.SECRET,
    role: Role | None = Role.ADMIN,
) -> tuple[ApiKey, str]:
    prefix = "sk_test_" if key_type is KeyType.SECRET else "pk_test_"
    # Letters and digits only, like a key whose lookup is exactly its first 8 characters.
    plaintext = prefix + ids.new("key").removeprefix("key_")[::-1]
    key = ApiKey(
        id=ids.new("key"),
        merchant_id=merchant_id,
        type=key_type,
        role=role if key_type is KeyType.SECRET else None,
        livemode=False,
        lookup=lookup_of(plaintext),
        last4=plaintext[-4:],
        secret_hash=hash_key(plaintext),
        created=T0,
    )
    return key, plaintext


async def add_key(uow_factory: UnitOfWorkFactory, key: ApiKey) -> None:
    async with uow_factory() as uow:
        await uow.api_keys.add(key)
        await uow.commit()


async def test_merchants_add_and_get(any_uow_factory: UnitOfWorkFactory, ids: RandomIds) -> None:
    merchant = Merchant(id=ids.new("acct"), name="Ünïcode Bakery GmbH", created=T0)
    async with any_uow_factory() as uow:
        await uow.merchants.add(merchant)
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.merchants.get(merchant.id) == merchant
        assert await uow.merchants.get(ids.new("acct")) is None


async def test_a_key_reads_back_by_id_and_by_lookup(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    secret, plaintext = new_key(ids, merchant_id)
    publishable, _ = new_key(ids, merchant_id, key_type=KeyType.PUBLISHABLE)
    await add_key(any_uow_factory, secret)
    await add_key(any_uow_factory, publishable)

    other = await add_merchant(any_uow_factory, ids)
    async with any_uow_factory() as uow:
        assert await uow.api_keys.get(merchant_id, secret.id) == secret
        assert await uow.api_keys.get(merchant_id, publishable.id) == publishable
        assert await uow.api_keys.get(other, secret.id) is None
        found = await uow.api_keys.by_lookup(lookup_of(plaintext))
        assert await uow.api_keys.by_lookup("sk_test_nothere0") == []

    assert list(found) == [secret]
    assert found[0].matches(plaintext)
    assert isinstance(found[0].secret_hash, bytes)


async def test_a_publishable_key_keeps_its_whole_value(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    """Public by design: the hosted checkout puts it into its page. Secret keys: digest only."""
    key, plaintext = new_key(ids, merchant_id, key_type=KeyType.PUBLISHABLE)
    key = replace(key, publishable_key=plaintext)
    secret, _ = new_key(ids, merchant_id)
    await add_key(any_uow_factory, key)
    await add_key(any_uow_factory, secret)
    async with any_uow_factory() as uow:
        assert (await uow.api_keys.get(merchant_id, key.id)) == key
        listed = await uow.api_keys.list(merchant_id, limit=10)
    assert {k.id: k.publishable_key for k in listed} == {key.id: plaintext, secret.id: ""}


async def test_keys_list_newest_first_per_merchant(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    keys = [new_key(ids, merchant_id)[0] for _ in range(3)]
    for key in keys:
        await add_key(any_uow_factory, key)
    other = await add_merchant(any_uow_factory, ids)
    await add_key(any_uow_factory, new_key(ids, other)[0])

    async with any_uow_factory() as uow:
        first = await uow.api_keys.list(merchant_id, limit=2)
        rest = await uow.api_keys.list(merchant_id, limit=2, starting_after=first[-1].id)

    assert [k.id for k in first] == [keys[2].id, keys[1].id]
    assert [k.id for k in rest] == [keys[0].id]


async def test_record_use_counts_and_stamps(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    key, _ = new_key(ids, merchant_id)
    await add_key(any_uow_factory, key)
    async with any_uow_factory() as uow:
        await uow.api_keys.record_use(key.id, later(1))
        await uow.api_keys.record_use(key.id, later(2))
        await uow.commit()
    async with any_uow_factory() as uow:
        await uow.api_keys.record_use(key.id, later(3))  # rolled back

    async with any_uow_factory() as uow:
        stored = await uow.api_keys.get(merchant_id, key.id)
    assert stored == replace(key, usage_count=2, last_used_at=later(2))

    async with any_uow_factory() as uow:  # a batch of uses counted in memory
        await uow.api_keys.record_use(key.id, later(4), 5)
        await uow.commit()
    async with any_uow_factory() as uow:
        stored = await uow.api_keys.get(merchant_id, key.id)
    assert stored == replace(key, usage_count=7, last_used_at=later(4))


async def test_revoke_stamps_once_and_only_for_the_owner(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    key, plaintext = new_key(ids, merchant_id)
    await add_key(any_uow_factory, key)
    other = await add_merchant(any_uow_factory, ids)

    async with any_uow_factory() as uow:
        await uow.api_keys.revoke(other, key.id, later(1))
        await uow.commit()
    async with any_uow_factory() as uow:
        still = await uow.api_keys.get(merchant_id, key.id)
        assert still is not None and still.active

    async with any_uow_factory() as uow:
        await uow.api_keys.revoke(merchant_id, key.id, later(2))
        await uow.commit()
    async with any_uow_factory() as uow:
        await uow.api_keys.revoke(merchant_id, key.id, later(3))
        await uow.commit()

    async with any_uow_factory() as uow:
        revoked = await uow.api_keys.get(merchant_id, key.id)
        (by_lookup,) = await uow.api_keys.by_lookup(lookup_of(plaintext))
    assert revoked is not None
    assert (revoked.revoked_at, revoked.active) == (later(2), False)
    assert by_lookup == revoked


async def test_expire_sets_the_end_of_a_rolled_keys_grace_only_for_the_owner(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    key, _ = new_key(ids, merchant_id)
    await add_key(any_uow_factory, key)
    other = await add_merchant(any_uow_factory, ids)
    async with any_uow_factory() as uow:
        await uow.api_keys.expire(other, key.id, later(1))
        await uow.api_keys.expire(merchant_id, key.id, later(60))
        await uow.commit()
    async with any_uow_factory() as uow:
        stored = await uow.api_keys.get(merchant_id, key.id)
    assert stored == replace(key, expires_at=later(60))
    assert stored.usable_at(later(59)) and not stored.usable_at(later(60))


async def test_a_keys_allowed_ips_read_back_and_are_replaced_only_for_the_owner(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    key, plaintext = new_key(ids, merchant_id)
    key = replace(key, allowed_ips=("127.0.0.1/32", "10.0.0.0/8"))
    await add_key(any_uow_factory, key)
    other = await add_merchant(any_uow_factory, ids)
    async with any_uow_factory() as uow:
        assert (await uow.api_keys.by_lookup(lookup_of(plaintext)))[0].allowed_ips == (
            "127.0.0.1/32",
            "10.0.0.0/8",
        )
        await uow.api_keys.set_allowed_ips(other, key.id, ())
        await uow.api_keys.set_allowed_ips(merchant_id, key.id, ("::1/128",))
        await uow.commit()
    async with any_uow_factory() as uow:
        stored = await uow.api_keys.get(merchant_id, key.id)
    assert stored is not None and stored.allowed_ips == ("::1/128",)
