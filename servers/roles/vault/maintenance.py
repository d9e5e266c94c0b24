"""The vault's scheduled upkeep, run by whichever process hosts the vault: the vault role
in split mode, the worker in embedded mode (SKIP LOCKED lets several share it)."""

from __future__ import annotations

from datetime import datetime

from core.vault.use_cases import Vault
from servers.roles.worker.scheduler import Job


def vault_jobs(vault: Vault, *, batch_size: int = 200) -> list[Job]:
    async def expire_tokens(now: datetime, limit: int) -> int:
        # A token nobody used must not keep its card in the database after its 15 minutes.
        return await vault.expire_tokens(limit=limit)

    return [Job("vault.expire_tokens", every=60.0, run=expire_tokens, batch=batch_size)]
