"""Databases of a test's own: created, migrated, dropped at the end."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

from adapters.sql.migrate import create_database, drop_database, migrate


@contextlib.asynccontextmanager
async def fresh_database(
    admin_url: str, prefix: str, *, migrator: Callable[[str], Awaitable[None]] = migrate
) -> AsyncIterator[str]:
    """The URL of a new, migrated database named `<prefix>_<random>`; dropped on exit.
    `migrator=migrate_vault` makes the vault's own database (split mode)."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    url = await create_database(admin_url, name)
    try:
        await migrator(url)
        yield url
    finally:
        await drop_database(admin_url, name)
