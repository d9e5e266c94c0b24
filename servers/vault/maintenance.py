"""The vault's background upkeep, run by whichever process hosts the vault (the vault role
in split mode, each API process in embedded mode; SKIP LOCKED lets them share it)."""

from __future__ import annotations

import asyncio
import logging

from core.vault.use_cases import Vault

log = logging.getLogger("paygate.vault")

SWEEP_INTERVAL_SECONDS = 60.0


async def sweep_expired_tokens(
    vault: Vault, *, batch_size: int = 200, interval_seconds: float = SWEEP_INTERVAL_SECONDS
) -> None:
    """Erases the ciphertexts of expired tokens, forever: a token nobody used must not keep
    its card in the database after its 15 minutes. Cancel the task to stop it."""
    while True:
        try:
            swept = await vault.expire_tokens(limit=batch_size)
        except Exception:
            log.exception("expired token sweep failed; retrying later")
            swept = 0
        if swept:
            log.info("expired tokens erased", extra={"fields": {"count": swept}})
        if swept < batch_size:
            await asyncio.sleep(interval_seconds)
