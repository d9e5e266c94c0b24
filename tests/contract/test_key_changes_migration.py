"""Migration 0019_api_key_changes on a database with keys in them: a change of a key is
told after it, the usage counts are not; and back down, triggers and function gone."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import asyncpg_url, create_engine
from tests.contract.test_ledger_mode_migration import _nothing, _rows, _to
from tests.databases import fresh_database

_BEFORE = """
INSERT INTO merchants (id, name, created) VALUES ('acct_m19', 'Migrated', now());
INSERT INTO api_keys (id, merchant_id, type, role, livemode, lookup, last4, secret_hash,
    created)
VALUES ('key_m19', 'acct_m19', 'SECRET', 'ADMIN', false, 'sk_test_m19m19m1', 'abcd',
        '\\x00', now())
"""
_TRIGGERS = "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'api_keys_notify%'"
_FUNCTION = "SELECT count(*) FROM pg_proc WHERE proname = 'paygate_notify_api_key_changed'"
_USE = "UPDATE api_keys SET usage_count = usage_count + 1, last_used_at = now()"
_REVOKE = "UPDATE api_keys SET revoked_at = now()"


@pytest.fixture
async def engine(postgres_admin_url: str) -> AsyncIterator[tuple[AsyncEngine, str]]:
    async with fresh_database(postgres_admin_url, "paygate_mig19", migrator=_nothing) as url:
        engine = create_engine(url, pool_size=1)
        try:
            yield engine, url
        finally:
            await engine.dispose()


async def _told(
    engine: AsyncEngine, url: str, statement: str, *, channel: str = "api_key_changed"
) -> list[str]:
    """The notifications on `channel` that the statement's commit sent."""
    received: list[str] = []
    dsn = asyncpg_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    listener = await asyncpg.connect(dsn)
    try:
        await listener.add_listener(channel, lambda *args: received.append(args[-1]))
        async with engine.begin() as connection:
            for one in statement.split(";"):
                await connection.execute(text(one))
        # A round trip on the listening connection after the commit: anything the commit
        # sent has been read by then.
        await listener.fetchval("SELECT 1")
        await asyncio.sleep(0)
        return received
    finally:
        await listener.close()


async def test_up_tells_key_changes_but_not_usage_and_down_removes_it(
    engine: tuple[AsyncEngine, str],
) -> None:
    db, url = engine
    await _to(db, "0018_analytics_rollup")
    async with db.begin() as connection:
        for statement in _BEFORE.split(";"):
            await connection.execute(text(statement))
    assert await _told(db, url, _REVOKE) == []  # before 0019: nothing

    await _to(db, "0019_api_key_changes")
    assert await _rows(db, _TRIGGERS) == [(2,)]
    assert await _told(db, url, _USE) == []
    assert await _told(db, url, "UPDATE api_keys SET revoked_at = NULL") == ["sk_test_m19m19m1"]

    await _to(db, "0018_analytics_rollup", down=True)
    assert await _rows(db, _TRIGGERS) == [(0,)]
    assert await _rows(db, _FUNCTION) == [(0,)]
    assert await _told(db, url, _REVOKE) == []
    await _to(db, "head")
    assert await _rows(db, _TRIGGERS) == [(2,)]
    assert await _told(db, url, "DELETE FROM api_keys") == ["sk_test_m19m19m1"]


async def test_the_trigger_compares_every_column_but_the_usage_counts(
    engine: tuple[AsyncEngine, str],
) -> None:
    """A column added to api_keys is read by authentication until shown otherwise: it
    needs a migration that adds it to the trigger's comparison (or to the usage counts
    here)."""
    db, _ = engine
    await _to(db, "head")
    [(definition,)] = await _rows(
        db, "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'api_keys_notify_update'"
    )
    columns = await _rows(
        db, "SELECT column_name FROM information_schema.columns WHERE table_name = 'api_keys'"
    )
    compared = {name for (name,) in columns} - {"usage_count", "last_used_at"}
    assert isinstance(definition, str)
    named = set(re.findall(r"\bold\.(\w+)", definition.lower()))
    assert named == compared
