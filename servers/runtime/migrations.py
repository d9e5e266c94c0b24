"""Every schema a node owns, brought to its newest revision."""

from __future__ import annotations

import dataclasses

from adapters.sql.migrate import migrate
from servers.bootstrap.vault import migrate as migrate_vault
from servers.runtime.settings import Settings


async def migrate_all(settings: Settings, database_url: str) -> None:
    """The payments database, and the vault's chain unless the vault runs elsewhere.

    In split mode (PAYGATE_VAULT_TARGET set) the vault node migrates its own database.
    """
    await migrate(database_url)
    if not settings.vault_target:
        await migrate_vault(dataclasses.replace(settings, database_url=database_url))
