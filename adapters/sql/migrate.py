"""Schema migrations (Alembic, configured in code) and database lifecycle helpers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from adapters.sql.engine import asyncpg_url

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key held while migrating (int64 of b"paygate\x00migrate"[:8]):
# processes that start together queue up, and each but the first finds nothing to do.
MIGRATION_LOCK_KEY = int.from_bytes(b"pg-migr8", "big", signed=True)

_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without an ini file; `connection` is what env.py runs on."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


def _engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    return create_async_engine(asyncpg_url(url), poolclass=NullPool, **kwargs)


async def migrate(database_url: str) -> None:
    """Brings the database's schema to the newest revision; a no-op when it is there.

    The upgrade runs in one transaction under a transaction-level advisory lock, so
    concurrent callers serialize and a failed migration leaves nothing behind.
    """
    engine = _engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
            await connection.run_sync(_upgrade)
            await connection.commit()
    finally:
        await engine.dispose()


def with_database(database_url: str, name: str) -> str:
    """The same server's URL for another database, as an asyncpg URL string."""
    return asyncpg_url(database_url).set(database=name).render_as_string(hide_password=False)


def _checked(name: str) -> str:
    if not _DATABASE_NAME.match(name):
        raise ValueError(f"database names are [a-z_][a-z0-9_]*, at most 63 characters: {name!r}")
    return name


async def create_database(admin_url: str, name: str) -> str:
    """Creates an empty database next to `admin_url`'s and returns its asyncpg URL."""
    engine = _engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{_checked(name)}"'))
    finally:
        await engine.dispose()
    return with_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    """Drops the database if it exists, disconnecting whoever is still on it."""
    engine = _engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            await connection.execute(
                text(f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)')
            )
    finally:
        await engine.dispose()
