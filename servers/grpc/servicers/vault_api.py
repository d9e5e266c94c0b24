from __future__ import annotations

from core.shared.errors import Unavailable
from core.vault.ports import VaultApi


def required(vault: VaultApi | None) -> VaultApi:
    """The vault, or UNAVAILABLE when this process was built without one."""
    if vault is None:
        raise Unavailable("The vault is not configured here.", reason="VAULT_NOT_CONFIGURED")
    return vault
