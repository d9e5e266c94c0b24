"""Alembic environment of the vault's own migration chain.

Separate from adapters/sql/migrations on purpose: the vault's tables live in the schema
`vault` with their own version table (vault.alembic_version), so the same chain migrates
the vault's own database in split mode (VAULT_DATABASE_URL) and the shared database in
embedded mode, and neither chain ever touches the other's tables.

Run through adapters.sql.vault.migrate.migrate_vault(), which passes the connection in
`config.attributes["connection"]`; from the command line `alembic -c <ini>` with
VAULT_DATABASE_URL (or DATABASE_URL) set.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.sql.engine import asyncpg_url
from adapters.sql.vault.tables import SCHEMA, metadata

config = context.config


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # Autogenerate compares the vault's schema only; other contexts' tables are not ours.
    return name == SCHEMA if type_ == "schema" else True


def _run(connection: Connection) -> None:
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        include_schemas=True,
        include_name=_include_name,
        version_table="alembic_version",
        version_table_schema=SCHEMA,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url(url: str) -> None:
    engine = create_async_engine(asyncpg_url(url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = (
        os.environ.get("VAULT_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError("set VAULT_DATABASE_URL (postgresql+asyncpg://...) to migrate the vault")
    if context.is_offline_mode():
        raise RuntimeError("the vault's migrations run online only")
    asyncio.run(_run_from_url(url))


main()
