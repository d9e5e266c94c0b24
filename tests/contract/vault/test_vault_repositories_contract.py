"""core.vault.ports' repositories: the same cases against memory and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.system import RandomIds
from core.shared.errors import AlreadyExists, Conflict
from core.vault.model import (
    Brand,
    CardSummary,
    DataKey,
    DetokenizationOutcome,
    DetokenizationRecord,
    EncryptedCard,
    Funding,
    PaymentMethod,
    PaymentMethodStatus,
    Token,
    TokenStatus,
)
from core.vault.ports import VaultUnitOfWork, VaultUnitOfWorkFactory

# Microseconds on purpose: PostgreSQL keeps them, values must survive the round trip.
T0 = datetime(2026, 3, 14, 9, 26, 53, 123456, tzinfo=UTC)
SUMMARY = CardSummary(Brand.VISA, "4242", 12, 2030, "ab" * 16, Funding.CREDIT, "US")
ids = RandomIds()


def data_key(merchant_id: str, version: int = 1, kek_id: str = "kek-1") -> DataKey:
    return DataKey(
        id=f"dek_{ids.secret(12)}",
        merchant_id=merchant_id,
        version=version,
        wrapped_key=b"\x01wrapped" + bytes(range(40)),
        kek_id=kek_id,
        created=T0,
    )


def token(merchant_id: str, key: DataKey, *, at: datetime = T0) -> Token:
    token_id = ids.new("tok")
    return Token.create(
        id=token_id,
        merchant_id=merchant_id,
        livemode=False,
        card=SUMMARY,
        encrypted_card=EncryptedCard(b"\x01sealed:" + token_id.encode(), key.id, key.version),
        created=at,
    )


def method(merchant_id: str, key: DataKey, customer_id: str = "") -> PaymentMethod:
    method_id = ids.new("pm")
    return PaymentMethod(
        id=method_id,
        merchant_id=merchant_id,
        livemode=False,
        card=SUMMARY,
        encrypted_card=EncryptedCard(b"\x01sealed:" + method_id.encode(), key.id, key.version),
        created=T0,
        customer_id=customer_id,
    )


async def add(uow_factory: VaultUnitOfWorkFactory, *rows: DataKey | Token | PaymentMethod) -> None:
    async with uow_factory() as uow:
        for row in rows:
            if isinstance(row, DataKey):
                await uow.data_keys.add(row)
            elif isinstance(row, Token):
                await uow.tokens.add(row)
            else:
                await uow.payment_methods.add(row)
        await uow.commit()


@pytest.fixture
def merchant() -> str:
    return ids.new("acct")


# --- tokens ----------------------------------------------------------------------------


async def test_tokens_round_trip_and_stay_with_their_merchant(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    key = data_key(merchant)
    saved = token(merchant, key)
    await add(any_vault_uow, key, saved)
    async with any_vault_uow() as uow:
        assert await uow.tokens.get(merchant, saved.id) == saved
        assert await uow.tokens.get(merchant, saved.id, for_update=True) == saved
        assert await uow.tokens.get(ids.new("acct"), saved.id) is None
        with pytest.raises(AlreadyExists):
            await uow.tokens.add(saved)


async def test_token_updates_are_optimistic(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    key = data_key(merchant)
    saved = token(merchant, key)
    await add(any_vault_uow, key, saved)
    async with any_vault_uow() as uow:
        loaded = await uow.tokens.get(merchant, saved.id)
        assert loaded is not None
        loaded.use(T0 + timedelta(minutes=1))
        await uow.tokens.update(loaded)
        assert loaded.version == 2
        await uow.commit()
    async with any_vault_uow() as uow:
        stored = await uow.tokens.get(merchant, saved.id)
        assert stored is not None
        assert (stored.status, stored.encrypted_card, stored.used_at, stored.version) == (
            TokenStatus.USED,
            None,
            T0 + timedelta(minutes=1),
            2,
        )
        saved.revoke()  # still version 1: another transaction saved first
        with pytest.raises(Conflict) as raised:
            await uow.tokens.update(saved)
        assert raised.value.reason == "CONCURRENT_UPDATE"


async def stored_token_and_grant(
    uow_factory: VaultUnitOfWorkFactory, merchant: str, at: datetime
) -> tuple[Token, DetokenizationRecord]:
    """A stored token and the record of a grant of it at `at`."""
    key = data_key(merchant)
    saved = token(merchant, key)
    await add(uow_factory, key, saved)
    grant = DetokenizationRecord(
        merchant, saved.id, "service:payments", "authorize pa_1",
        DetokenizationOutcome.GRANTED, "", at,
    )  # fmt: skip
    return saved, grant


async def use_locked(uow: VaultUnitOfWork, grant: DetokenizationRecord) -> Token:
    """The grant's token, locked, used up and saved with the grant."""
    loaded = await uow.tokens.get(grant.merchant_id, grant.payment_method, for_update=True)
    assert loaded is not None
    loaded.use(grant.occurred_at)
    await uow.tokens.use(loaded, grant)
    return loaded


async def test_a_tokens_use_saves_it_with_its_grant_or_neither(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    used_at = T0 + timedelta(minutes=1)
    saved, grant = await stored_token_and_grant(any_vault_uow, merchant, used_at)
    async with any_vault_uow() as uow:
        assert (await use_locked(uow, grant)).version == 2
        await uow.commit()
    async with any_vault_uow() as uow:
        stored = await uow.tokens.get(merchant, saved.id)
        assert stored is not None
        assert (stored.status, stored.encrypted_card, stored.used_at, stored.version) == (
            TokenStatus.USED,
            None,
            used_at,
            2,
        )
        assert list(await uow.detokenizations.for_payment_method(merchant, saved.id)) == [grant]
    # A stale copy (version 1): a conflict, and neither the token nor a record is written.
    second = replace(grant, purpose="authorize pa_2")
    async with any_vault_uow() as uow:
        saved.use(used_at + timedelta(minutes=1))
        with pytest.raises(Conflict) as raised:
            await uow.tokens.use(saved, second)
        assert raised.value.reason == "CONCURRENT_UPDATE"
        await uow.commit()
    async with any_vault_uow() as uow:
        stored = await uow.tokens.get(merchant, saved.id)
        assert stored is not None and (stored.version, stored.used_at) == (2, used_at)
        assert list(await uow.detokenizations.for_payment_method(merchant, saved.id)) == [grant]


async def test_a_tokens_use_is_undone_with_its_transaction(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    saved, grant = await stored_token_and_grant(any_vault_uow, merchant, T0)
    async with any_vault_uow() as uow:
        await use_locked(uow, grant)
    async with any_vault_uow() as uow:
        assert await uow.tokens.get(merchant, saved.id) == saved
        assert not await uow.detokenizations.for_payment_method(merchant, saved.id)


async def test_expired_finds_active_tokens_past_their_lifetime(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    key = data_key(merchant)
    # Far in the past: in a shared database, other tests' tokens expire around T0 too.
    long_ago = T0 - timedelta(days=3650)
    old, used, fresh = (token(merchant, key, at=long_ago) for _ in range(3))
    fresh.created = fresh.expires_at = T0 + timedelta(days=1)
    used.use(long_ago)
    await add(any_vault_uow, key, old, used, fresh)
    async with any_vault_uow() as uow:
        found = await uow.tokens.expired(long_ago + timedelta(minutes=15), limit=100)
    assert [t.id for t in found] == [old.id]


# --- payment methods -------------------------------------------------------------------


async def test_payment_methods_list_newest_first_by_customer(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    key = data_key(merchant)
    methods = [method(merchant, key, customer) for customer in ("cus_1", "cus_2", "cus_1", "")]
    elsewhere = ids.new("acct")
    other_key = data_key(elsewhere)
    await add(any_vault_uow, key, *methods, other_key, method(elsewhere, other_key, "cus_1"))
    newest_first = [m.id for m in reversed(methods)]
    async with any_vault_uow() as uow:
        listed = await uow.payment_methods.list(merchant, livemode=False, limit=10)
        assert [m.id for m in listed] == newest_first
        assert listed[-1] == methods[0]
        page = await uow.payment_methods.list(
            merchant, livemode=False, limit=2, starting_after=newest_first[1]
        )
        assert [m.id for m in page] == newest_first[2:]
        mine = await uow.payment_methods.list(
            merchant, livemode=False, limit=10, customer_id="cus_1"
        )
        assert not await uow.payment_methods.list(merchant, livemode=True, limit=10)
        assert [m.id for m in mine] == [methods[2].id, methods[0].id]
        assert await uow.payment_methods.get(elsewhere, methods[0].id) is None


async def test_payment_method_revocation_is_saved_optimistically(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    key = data_key(merchant)
    saved = method(merchant, key, "cus_9")
    await add(any_vault_uow, key, saved)
    async with any_vault_uow() as uow:
        loaded = await uow.payment_methods.get(merchant, saved.id, for_update=True)
        assert loaded is not None
        loaded.revoke(T0)
        await uow.payment_methods.update(loaded)
        await uow.commit()
    async with any_vault_uow() as uow:
        stored = await uow.payment_methods.get(merchant, saved.id)
        assert stored is not None
        assert (stored.status, stored.encrypted_card, stored.revoked_at, stored.version) == (
            PaymentMethodStatus.REVOKED,
            None,
            T0,
            2,
        )
        with pytest.raises(Conflict):
            await uow.payment_methods.update(saved)


async def test_rows_under_other_keys_are_found_and_counted(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    old, new = data_key(merchant, 1), data_key(merchant, 2)
    under_old = [token(merchant, old), token(merchant, old)]
    under_new = token(merchant, new)
    spent = token(merchant, old)
    spent.use(T0)
    methods = [method(merchant, old), method(merchant, new)]
    await add(any_vault_uow, old, new, *under_old, under_new, spent, *methods)
    async with any_vault_uow() as uow:
        found = await uow.tokens.sealed_under_other_keys(merchant, new.id, limit=1)
        assert [t.id for t in found] == [under_old[0].id]
        assert await uow.tokens.count_sealed_under_other_keys(merchant, new.id) == 2
        pms = await uow.payment_methods.sealed_under_other_keys(merchant, new.id, limit=10)
        assert [m.id for m in pms] == [methods[0].id]
        assert await uow.payment_methods.count_sealed_under_other_keys(merchant, new.id) == 1
        assert await uow.tokens.count_sealed_under_other_keys(ids.new("acct"), new.id) == 0


# --- data keys -------------------------------------------------------------------------


async def test_data_keys_version_per_merchant_and_latest(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    v1, v2 = data_key(merchant, 1), data_key(merchant, 2)
    await add(any_vault_uow, v1, v2)
    async with any_vault_uow() as uow:
        assert await uow.data_keys.latest(merchant) == v2
        assert await uow.data_keys.get(merchant, v1.id) == v1
        assert await uow.data_keys.get(ids.new("acct"), v1.id) is None
        assert await uow.data_keys.latest(ids.new("acct")) is None
        with pytest.raises(Conflict) as raised:
            await uow.data_keys.add(data_key(merchant, 2))
        assert raised.value.reason == "CONCURRENT_UPDATE"
        # The lost race leaves the transaction usable (the use-case rereads the winner).
        assert (await uow.data_keys.latest(merchant)) == v2


async def test_count_encryptions_is_an_atomic_increment(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    key = data_key(merchant)
    await add(any_vault_uow, key)
    async with any_vault_uow() as uow:
        assert await uow.data_keys.count_encryptions(key.id) == 1
        assert await uow.data_keys.count_encryptions(key.id, 5) == 6
        await uow.commit()
    async with any_vault_uow() as uow:
        stored = await uow.data_keys.get(merchant, key.id)
        assert stored is not None and stored.encryptions == 6
        # update() saves retirement and wrapping, never the count.
        stored.encryptions = 0
        stored.retire(T0)
        stored.wrapped_key, stored.kek_id = b"\x01rewrapped", "kek-2"
        await uow.data_keys.update(stored)
        await uow.commit()
    async with any_vault_uow() as uow:
        again = await uow.data_keys.get(merchant, key.id)
    assert again is not None
    assert (again.encryptions, again.retired_at, again.wrapped_key, again.kek_id) == (
        6,
        T0,
        b"\x01rewrapped",
        "kek-2",
    )


async def test_keys_of_other_keks_and_merchants_with_keys(
    any_vault_uow: VaultUnitOfWorkFactory,
) -> None:
    # Merchant ids that sort before anything RandomIds makes ("acct_0..."), so that the
    # first page of a shared database is ours.
    stamp = ids.secret(6).lower()
    first, second = f"acct_!{stamp}a", f"acct_!{stamp}b"
    kek = f"kek-contract-{stamp}"
    keys = [data_key(first, 1, kek), data_key(first, 2, "kek-other"), data_key(second, 1, kek)]
    await add(any_vault_uow, *keys)
    async with any_vault_uow() as uow:
        stale = await uow.data_keys.wrapped_by_other_keks(kek, limit=1000)
        assert keys[1].id in {k.id for k in stale}
        assert not {keys[0].id, keys[2].id} & {k.id for k in stale}
        merchants = await uow.data_keys.merchants(limit=2, starting_after=f"acct_!{stamp}")
        assert merchants == [first, second]
        assert await uow.data_keys.merchants(limit=1, starting_after=first) == [second]


# --- audit and transactions ------------------------------------------------------------


async def test_the_audit_keeps_records_in_order(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    records = [
        DetokenizationRecord(
            merchant, "tok_x", "service:payments", "authorize pa_1", outcome, reason, T0
        )
        for outcome, reason in (
            (DetokenizationOutcome.GRANTED, ""),
            (DetokenizationOutcome.DENIED, "TOKEN_ALREADY_USED"),
        )
    ]
    async with any_vault_uow() as uow:
        for record in records:
            await uow.detokenizations.append(record)
        await uow.commit()
    async with any_vault_uow() as uow:
        assert list(await uow.detokenizations.for_payment_method(merchant, "tok_x")) == records
        assert not await uow.detokenizations.for_payment_method(merchant, "tok_y")


async def test_leaving_without_commit_writes_nothing(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    key = data_key(merchant)
    async with any_vault_uow() as uow:
        await uow.data_keys.add(key)
        await uow.tokens.add(token(merchant, key))
    async with any_vault_uow() as uow:
        assert await uow.data_keys.latest(merchant) is None


# --- a unit of work in autocommit: its one write alone ----------------------------------


async def test_autocommit_writes_one_statement_alone_without_commit(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    key = data_key(merchant)
    await add(any_vault_uow, key)
    alone = token(merchant, key)
    async with any_vault_uow() as uow:
        assert await uow.data_keys.latest(merchant) == key  # reads before: alone as always
        uow.autocommit()
        await uow.tokens.add(alone)
        assert await uow.tokens.get(merchant, alone.id) == alone  # and after
        # left without commit(): the statement committed itself
    async with any_vault_uow() as uow:
        assert await uow.tokens.get(merchant, alone.id) == alone


async def test_autocommit_refuses_a_second_write_and_one_after_a_write(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    key = data_key(merchant)
    await add(any_vault_uow, key)
    first, second, third = token(merchant, key), token(merchant, key), token(merchant, key)
    async with any_vault_uow() as uow:
        uow.autocommit()
        await uow.tokens.add(first)
        with pytest.raises(RuntimeError):
            await uow.tokens.add(second)  # could not be undone with the first
        await uow.commit()  # nothing to do
    async with any_vault_uow() as uow:
        await uow.tokens.add(third)
        with pytest.raises(RuntimeError):
            uow.autocommit()  # the transaction has begun
    async with any_vault_uow() as uow:
        assert await uow.tokens.get(merchant, first.id) == first
        assert await uow.tokens.get(merchant, second.id) is None
        assert await uow.tokens.get(merchant, third.id) is None


async def test_a_tokens_use_alone_writes_both_rows_or_neither(
    any_vault_uow: VaultUnitOfWorkFactory, merchant: str
) -> None:
    saved, grant = await stored_token_and_grant(any_vault_uow, merchant, T0)
    stale = replace(saved)
    async with any_vault_uow() as uow:
        loaded = await uow.tokens.get(merchant, saved.id)  # unlocked
        assert loaded is not None
        loaded.use(T0)
        uow.autocommit()
        await uow.tokens.use(loaded, grant)
        assert loaded.version == 2
    # The loser of a race: its copy's version has moved, so the one statement matches no
    # row and writes neither the token nor a record.
    async with any_vault_uow() as uow:
        stale.use(T0 + timedelta(seconds=1))
        uow.autocommit()
        with pytest.raises(Conflict):
            await uow.tokens.use(stale, replace(grant, purpose="authorize pa_2"))
    async with any_vault_uow() as uow:
        stored = await uow.tokens.get(merchant, saved.id)
        assert stored is not None and (stored.version, stored.used_at) == (2, T0)
        assert list(await uow.detokenizations.for_payment_method(merchant, saved.id)) == [grant]
