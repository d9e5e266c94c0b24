"""Migrates the vault's schema: its own Alembic chain and version table (vault.alembic_version).

    embedded mode: migrate_vault(DATABASE_URL)        next to the other contexts' tables
    split mode:    migrate_vault(VAULT_DATABASE_URL)  the vault's own database

Either way only the `vault` schema is touched, and adapters.sql.migrate.migrate() (the
other contexts' chain) never touches it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.sql.engine import asyncpg_url

MIGRATIONS = Path(__file__).parent / "migrations"
# Its own advisory lock key: the two chains may migrate one database at the same time.
VAULT_MIGRATION_LOCK_KEY = int.from_bytes(b"pg-vault", "big", signed=True)


def vault_alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(vault_alembic_config(connection), "head")


async def migrate_vault(database_url: str) -> None:
    """Brings the vault's schema to its newest revision; a no-op when it is there.

    One transaction under a transaction-level advisory lock, like migrate().
    """
    engine = create_async_engine(asyncpg_url(database_url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": VAULT_MIGRATION_LOCK_KEY}
            )
            await connection.run_sync(_upgrade)
            await connection.commit()
    finally:
        await engine.dispose()
