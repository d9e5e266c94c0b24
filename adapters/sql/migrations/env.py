"""Alembic environment for paygate.

In the application and in tests, adapters.sql.migrate.migrate() runs the upgrade on a
connection it already holds (inside a running event loop, under an advisory lock) and
passes it in `config.attributes["connection"]`. From the command line (`alembic upgrade
head` with the repository's alembic.ini), there is no connection: one is opened from
DATABASE_URL or the ini's sqlalchemy.url.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.sql.engine import asyncpg_url
from adapters.sql.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
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


def _run_offline(url: str) -> None:
    context.configure(url=str(asyncpg_url(url)), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set DATABASE_URL (postgresql+asyncpg://...) to run migrations")
    if context.is_offline_mode():
        _run_offline(url)
    else:
        asyncio.run(_run_from_url(url))


main()
