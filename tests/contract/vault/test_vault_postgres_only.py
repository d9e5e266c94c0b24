"""What only PostgreSQL shows about the vault: its own schema and migration chain, triggers,
row locks and SKIP LOCKED, and ciphertexts tampered with where they are stored."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.migrate import create_database, drop_database
from adapters.sql.vault.migrate import migrate_vault
from adapters.sql.vault.tables import SCHEMA, metadata
from adapters.sql.vault.unit_of_work import SqlVaultUnitOfWork, SqlVaultUnitOfWorkFactory
from core.shared.errors import Unavailable
from core.vault.errors import CiphertextRejected, KeyUnavailable, TokenAlreadyUsed
from core.vault.model import KeyMaterial, TokenStatus
from core.vault.rotation import KeyRotation
from tests.contract.vault.vault_helpers import (
    MASTERCARD,
    VISA,
    VaultHarness,
    local_kek,
    make_harness,
)
from tests.unit.vault.fakes import KEK


@pytest.fixture
def pg(sql_vault_uow: SqlVaultUnitOfWorkFactory) -> VaultHarness:
    return make_harness(sql_vault_uow)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables"
                " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
        )
        return set(rows.scalars())


async def _backend_pid(uow: SqlVaultUnitOfWork) -> int:
    pid: int = (await uow.connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return pid


async def _wait_until_blocked(engine: AsyncEngine, *pids: int) -> None:
    async with engine.connect() as observer:
        for _ in range(500):
            rows = await observer.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE pid = ANY(:pids) AND wait_event_type = 'Lock'"
                ),
                {"pids": list(pids)},
            )
            if rows.scalar_one() == len(pids):
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"backends {pids} never blocked")


# --- schema and migration chains -------------------------------------------------------


async def test_the_migrated_schema_is_the_metadata(vault_engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_schemas": True,
                "include_name": lambda name, kind, _: name == SCHEMA if kind == "schema" else True,
                "version_table_schema": SCHEMA,
            },
        )
        return list(compare_metadata(context, metadata))

    async with vault_engine.connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_the_vault_database_holds_the_vault_only(vault_engine: AsyncEngine) -> None:
    assert await _tables(vault_engine) == {
        "vault.alembic_version",
        "vault.data_keys",
        "vault.tokens",
        "vault.payment_methods",
        "vault.detokenization_audit",
    }


async def test_the_chains_share_a_database_without_touching_each_other(
    embedded_database_url: str, engine: AsyncEngine
) -> None:
    embedded = create_engine(embedded_database_url, pool_size=1)
    try:
        tables = await _tables(embedded)
        assert {"public.merchants", "public.alembic_version", "vault.tokens"} <= tables
        assert {"vault.alembic_version", "vault.data_keys"} <= tables
        await migrate_vault(embedded_database_url)  # again: nothing to do
        assert await _tables(embedded) == tables
    finally:
        await embedded.dispose()
    # The other chain alone (tests/conftest.py's database) has no vault schema at all.
    assert not {t for t in await _tables(engine) if t.startswith("vault.")}


# --- constraints and triggers ----------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE vault.detokenization_audit SET outcome = 'GRANTED' WHERE merchant_id = :m",
        "DELETE FROM vault.detokenization_audit WHERE merchant_id = :m",
        "TRUNCATE vault.detokenization_audit",
    ],
    ids=["update", "delete", "truncate"],
)
async def test_the_audit_trail_refuses_changes(pg: VaultHarness, statement: str) -> None:
    token = await pg.tokenize()
    await pg.pay(token.id)
    async with pg.uow() as uow:
        assert isinstance(uow, SqlVaultUnitOfWork)
        with pytest.raises(DBAPIError, match="detokenization_audit is append-only"):
            await uow.connection.execute(text(statement), {"m": pg.merchant.merchant_id})
    async with pg.uow() as uow:
        audit = await uow.detokenizations.for_payment_method(pg.merchant.merchant_id, token.id)
    assert len(audit) == 1


async def test_an_active_token_always_holds_its_card(pg: VaultHarness) -> None:
    token = await pg.tokenize()
    async with pg.uow() as uow:
        assert isinstance(uow, SqlVaultUnitOfWork)
        with pytest.raises(IntegrityError, match="ck_tokens_"):
            await uow.connection.execute(
                text("UPDATE vault.tokens SET ciphertext = NULL WHERE id = :id"), {"id": token.id}
            )


# --- row locks -------------------------------------------------------------------------


async def test_racing_payments_get_a_token_once(
    pg: VaultHarness, sql_vault_uow: SqlVaultUnitOfWorkFactory, vault_engine: AsyncEngine
) -> None:
    token = await pg.tokenize()
    async with sql_vault_uow() as holder:
        # Hold the row, so that both payments are waiting for it when it is released.
        await holder.tokens.get(pg.merchant.merchant_id, token.id, for_update=True)
        pids_before = await _waiting_backends(vault_engine)
        racers = [asyncio.create_task(pg.pay(token.id)) for _ in range(2)]
        await _wait_for_waiters(vault_engine, pids_before, 2)
        await holder.commit()
    results = await asyncio.gather(*racers, return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["CardForAuthorization", "TokenAlreadyUsed"]
    assert any(isinstance(r, TokenAlreadyUsed) for r in results)


async def _waiting_backends(engine: AsyncEngine) -> set[int]:
    async with engine.connect() as observer:
        rows = await observer.execute(
            text("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        )
        return set(rows.scalars())


async def _wait_for_waiters(engine: AsyncEngine, before: set[int], count: int) -> None:
    for _ in range(500):
        if len(await _waiting_backends(engine) - before) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the payments never waited for the row lock")


async def test_rotation_skips_rows_a_payment_holds(
    pg: VaultHarness, sql_vault_uow: SqlVaultUnitOfWorkFactory
) -> None:
    held, free = await pg.tokenize(), await pg.tokenize()
    rotation = KeyRotation(pg.uow, pg.vault.keyring)
    async with sql_vault_uow() as payment:
        await payment.tokens.get(pg.merchant.merchant_id, held.id, for_update=True)
        report = await asyncio.wait_for(
            rotation.rotate_merchant(pg.merchant.merchant_id, retire=True), timeout=10
        )
        assert (report.tokens_reencrypted, report.remaining) == (1, 1)
    again = await rotation.rotate_merchant(pg.merchant.merchant_id, retire=False)
    assert (again.tokens_reencrypted, again.remaining) == (1, 0)
    assert (await pg.pay(held.id)).pan.reveal() == (await pg.pay(free.id)).pan.reveal() == VISA


async def test_the_expiry_sweep_skips_rows_a_payment_holds(
    pg: VaultHarness, sql_vault_uow: SqlVaultUnitOfWorkFactory
) -> None:
    held, free = await pg.tokenize(), await pg.tokenize()
    pg.clock.advance(days=3650)  # past every other test's tokens too: sweep them all
    async with sql_vault_uow() as payment:
        await payment.tokens.get(pg.merchant.merchant_id, held.id, for_update=True)
        while await asyncio.wait_for(pg.vault.expire_tokens(limit=1000), timeout=10):
            pass
    async with pg.uow() as uow:
        statuses = [
            stored.status
            for stored in [
                await uow.tokens.get(pg.merchant.merchant_id, t.id) for t in (held, free)
            ]
            if stored is not None
        ]
    assert statuses == [TokenStatus.ACTIVE, TokenStatus.EXPIRED]


async def test_two_processes_creating_the_first_data_key_agree_on_one(
    sql_vault_uow: SqlVaultUnitOfWorkFactory,
) -> None:
    one = make_harness(sql_vault_uow)
    two = make_harness(sql_vault_uow)
    two.merchant = one.merchant
    tokens = await asyncio.gather(*(h.tokenize() for h in (one, two, one, two)))
    async with sql_vault_uow() as uow:
        latest = await uow.data_keys.latest(one.merchant.merchant_id)
    assert latest is not None and latest.version == 1
    for token in tokens:
        assert (await one.pay(token.id)).pan.reveal() == VISA


# --- ciphertexts tampered with in the database -----------------------------------------


async def _column(
    uow_factory: SqlVaultUnitOfWorkFactory, table: str, column: str, row_id: str
) -> bytes:
    async with uow_factory() as uow:
        value = await uow.connection.execute(
            text(f"SELECT {column} FROM vault.{table} WHERE id = :id"), {"id": row_id}
        )
        return bytes(value.scalar_one())


async def _set(
    uow_factory: SqlVaultUnitOfWorkFactory, table: str, column: str, row_id: str, value: bytes
) -> None:
    async with uow_factory() as uow:
        await uow.connection.execute(
            text(f"UPDATE vault.{table} SET {column} = :v WHERE id = :id"),
            {"v": value, "id": row_id},
        )
        await uow.commit()


def _flip(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


@pytest.mark.parametrize("kind", ["token", "payment_method"])
async def test_one_flipped_bit_in_any_stored_ciphertext_is_detected(
    pg: VaultHarness, sql_vault_uow: SqlVaultUnitOfWorkFactory, kind: str
) -> None:
    token = await pg.tokenize(cvc="")
    record_id, table = token.id, "tokens"
    if kind == "payment_method":
        record_id = (await pg.vault.create_payment_method_from_token(pg.merchant, token.id)).id
        table = "payment_methods"
    original = await _column(sql_vault_uow, table, "ciphertext", record_id)
    rng = random.Random(record_id)
    for byte in range(len(original)):  # every byte: header, nonce, body and tag
        await _set(
            sql_vault_uow,
            table,
            "ciphertext",
            record_id,
            _flip(original, byte * 8 + rng.randrange(8)),
        )
        with pytest.raises(CiphertextRejected):
            await pg.pay(record_id)
    await _set(sql_vault_uow, table, "ciphertext", record_id, original)
    assert (await pg.pay(record_id)).pan.reveal() == VISA


async def test_one_flipped_bit_in_a_wrapped_data_key_is_detected(
    pg: VaultHarness, sql_vault_uow: SqlVaultUnitOfWorkFactory
) -> None:
    token = await pg.tokenize(cvc="")
    async with sql_vault_uow() as uow:
        key_id = (
            await uow.connection.execute(
                text("SELECT key_id FROM vault.tokens WHERE id = :id"), {"id": token.id}
            )
        ).scalar_one()
    wrapped = await _column(sql_vault_uow, "data_keys", "wrapped_key", key_id)
    for bit in range(0, len(wrapped) * 8, 7):
        await _set(sql_vault_uow, "data_keys", "wrapped_key", key_id, _flip(wrapped, bit))
        # A flip inside the KEK id names a KEK this process does not have: that reads as
        # a configuration gap (KeyUnavailable); anywhere else the tag check fails.
        with pytest.raises((CiphertextRejected, KeyUnavailable)):
            await pg.pay(token.id)
    await _set(sql_vault_uow, "data_keys", "wrapped_key", key_id, wrapped)
    assert (await pg.pay(token.id)).pan.reveal() == VISA


async def test_a_ciphertext_moved_to_another_row_or_merchant_never_decrypts(
    pg: VaultHarness, sql_vault_uow: SqlVaultUnitOfWorkFactory
) -> None:
    victim = await pg.tokenize(VISA, cvc="")
    same_merchant = await pg.tokenize(MASTERCARD, cvc="")
    other_merchant = await pg.tokenize(MASTERCARD, cvc="", who=pg.other)
    pm = await pg.vault.create_payment_method_from_token(pg.merchant, (await pg.tokenize()).id)
    stolen = await _column(sql_vault_uow, "tokens", "ciphertext", victim.id)
    async with sql_vault_uow() as uow:
        # Copy the card (and the key columns with it) over the other rows.
        for table, row_id in (
            ("tokens", same_merchant.id),
            ("tokens", other_merchant.id),
            ("payment_methods", pm.id),
        ):
            await uow.connection.execute(
                text(
                    f"UPDATE vault.{table} AS t SET ciphertext = v.ciphertext, key_id = v.key_id,"
                    " key_version = v.key_version FROM vault.tokens AS v"
                    " WHERE t.id = :id AND v.id = :victim"
                ),
                {"id": row_id, "victim": victim.id},
            )
        # ... and move the victim's data key to the other merchant as well.
        await uow.connection.execute(
            text(
                "UPDATE vault.tokens SET key_id = (SELECT key_id FROM vault.tokens WHERE id = :v)"
                " WHERE id = :id"
            ),
            {"v": victim.id, "id": other_merchant.id},
        )
        await uow.commit()
    for who, row_id in (
        (pg.merchant, same_merchant.id),
        (pg.other, other_merchant.id),
        (pg.merchant, pm.id),
    ):
        with pytest.raises(CiphertextRejected):
            await pg.pay(row_id, who=who)
    assert (await _column(sql_vault_uow, "tokens", "ciphertext", victim.id)) == stolen
    assert (await pg.pay(victim.id)).pan.reveal() == VISA


# --- a full rotation in a database of its own ------------------------------------------


@pytest.fixture
async def fresh_vault_uow(postgres_admin_url: str) -> AsyncIterator[SqlVaultUnitOfWorkFactory]:
    """Rotation touches every merchant: give it a database nobody else uses."""
    name = f"paygate_vault_rotation_{secrets.token_hex(6)}"
    url = await create_database(postgres_admin_url, name)
    engine = create_engine(url, pool_size=3)
    try:
        await migrate_vault(url)
        yield SqlVaultUnitOfWorkFactory(engine)
    finally:
        await engine.dispose()
        await drop_database(postgres_admin_url, name)


async def test_after_rotation_every_old_token_works_and_new_ones_use_the_new_version(
    fresh_vault_uow: SqlVaultUnitOfWorkFactory,
) -> None:
    before = make_harness(fresh_vault_uow)
    mine = [await before.tokenize() for _ in range(5)]
    theirs = [await before.tokenize(MASTERCARD, who=before.other) for _ in range(3)]
    pm = await before.vault.create_payment_method_from_token(before.merchant, mine[0].id)

    kek_2 = KeyMaterial(secrets.token_bytes(32))
    during = make_harness(
        fresh_vault_uow,
        clock=before.clock,
        cvcs=before.cvcs,
        kek=local_kek({"kek-1": KEK, "kek-2": kek_2}, current="kek-2"),
    )
    during.merchant, during.other = before.merchant, before.other
    # Old ciphertexts stay readable while the job runs (here: between its batches).
    rotation = KeyRotation(fresh_vault_uow, during.vault.keyring, batch_size=2)
    assert await rotation.rewrap_data_keys() == 2
    assert (await during.pay(mine[1].id)).pan.reveal() == VISA
    report = await rotation.run(retire_active_keys=True)
    assert (report.merchants, report.keys_retired, report.remaining) == (2, 2, 0)
    assert (report.tokens_reencrypted, report.payment_methods_reencrypted) == (6, 1)

    after = make_harness(
        fresh_vault_uow,
        clock=before.clock,
        cvcs=before.cvcs,
        kek=local_kek({"kek-2": kek_2}, "kek-2"),
    )
    after.merchant, after.other = before.merchant, before.other
    async with fresh_vault_uow() as uow:
        rows = await uow.connection.execute(
            text(
                "SELECT DISTINCT k.version, k.kek_id FROM vault.tokens t"
                " JOIN vault.data_keys k ON k.id = t.key_id"
            )
        )
        assert set(rows) == {(2, "kek-2")}
    for token in mine[2:]:  # mine[0] became the payment method, mine[1] paid above
        card = await after.pay(token.id)
        assert (card.pan.reveal(), card.cvc is not None) == (VISA, True)
    for token in theirs:
        assert (await after.pay(token.id, who=after.other)).pan.reveal() == MASTERCARD
    assert (await after.pay(pm.id)).pan.reveal() == VISA
    new = await after.tokenize()
    async with fresh_vault_uow() as uow:
        stored = await uow.tokens.get(after.merchant.merchant_id, new.id)
    assert stored is not None and stored.encrypted_card is not None
    assert stored.encrypted_card.key_version == 2


# --- a statement alone, cut off -------------------------------------------------------


@pytest.mark.parametrize("what", ["tokenize", "use"])
async def test_a_write_alone_cut_off_is_unavailable_and_its_connection_never_pooled(
    vault_database_url: str, sql_vault_uow: SqlVaultUnitOfWorkFactory, what: str
) -> None:
    """A statement alone (autocommit) that the server does not answer in time (here: it
    waits for a row lock; under an outage, for a server that is gone) fails the call with
    UNAVAILABLE, never INTERNAL, and its connection, whose state is unknown, is discarded
    instead of going back to the pool; nothing is half-written."""
    engine = create_engine(vault_database_url, pool_size=2, command_timeout=0.5)
    invalidated: list[object] = []
    event.listen(engine.sync_engine.pool, "invalidate", lambda *args: invalidated.append(args))
    try:
        h = make_harness(SqlVaultUnitOfWorkFactory(engine))
        token = await h.tokenize()
        async with sql_vault_uow() as holder:
            if what == "use":
                await holder.tokens.get(h.merchant.merchant_id, token.id, for_update=True)
            else:  # every INSERT into the tokens waits
                await holder.connection.execute(
                    text("LOCK TABLE vault.tokens IN SHARE ROW EXCLUSIVE MODE")
                )
            with pytest.raises(Unavailable):
                await (h.pay(token.id) if what == "use" else h.tokenize())
            assert len(invalidated) == 1
        # Healed: the token was not used, and pays once.
        assert (await h.pay(token.id)).pan.reveal() == VISA
        with pytest.raises(TokenAlreadyUsed):
            await h.pay(token.id)
        async with h.uow() as uow:
            audit = await uow.detokenizations.for_payment_method(h.merchant.merchant_id, token.id)
        assert [r.outcome.value for r in audit][-2:] == ["GRANTED", "DENIED"]
    finally:
        await engine.dispose()
