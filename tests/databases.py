"""Databases of a test's own: created, migrated, dropped at the end."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

from adapters.sql.migrate import create_database, drop_database, migrate


@contextlib.asynccontextmanager
async def fresh_database(
    admin_url: str, prefix: str, migrate_with: Callable[[str], Awaitable[None]] = migrate
) -> AsyncIterator[str]:
    """The URL of a new database named `<prefix>_<random>`, migrated by `migrate_with`
    (the gateway's chain; the vault's own database takes `migrate_vault`); dropped on exit."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    url = await create_database(admin_url, name)
    try:
        await migrate_with(url)
        yield url
    finally:
        await drop_database(admin_url, name)
