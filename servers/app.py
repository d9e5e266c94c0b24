"""The composition root: builds adapters from settings and hands them to the use-cases."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.use_cases import ApiKeys
from core.payments.use_cases import PaymentIntents
from core.payments.vault_port import CardVault
from core.vault.ports import VaultApi
from servers.settings import Settings
from servers.vault.composition import VaultAccess, vault_access
from servers.vault.maintenance import sweep_expired_tokens


@dataclass
class App:
    api_keys: ApiKeys
    payment_intents: PaymentIntents
    engine: AsyncEngine | None = None
    # The vault: in this process or a client of the vault role (servers/vault/).
    vault: VaultApi | None = None
    # What the payments core detokenizes through (hand it to the confirm use-case).
    card_vault: CardVault | None = None
    vault_access: VaultAccess | None = None
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    def start_background(self, settings: Settings) -> None:
        """Upkeep of what this process hosts: in embedded mode, the vault's expiry sweep."""
        hosted = self.vault_access.hosted if self.vault_access else None
        if hosted is not None:
            sweep = sweep_expired_tokens(hosted.vault, batch_size=settings.vault_batch_size)
            self._background.append(asyncio.create_task(sweep))

    async def aclose(self) -> None:
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.vault_access is not None:
            await self.vault_access.aclose()
        if self.engine is not None:
            await self.engine.dispose()


def build_app(settings: Settings, database_url: str) -> App:
    engine = create_engine(database_url, pool_size=settings.db_pool_size)
    uow = SqlUnitOfWorkFactory(engine)
    ids, clock = RandomIds(), SystemClock()
    # Embedded, the vault uses VAULT_DATABASE_URL or else this database (its own schema).
    vault = vault_access(dataclasses.replace(settings, database_url=database_url))
    return App(
        engine=engine,
        api_keys=ApiKeys(uow, ids, clock),
        payment_intents=PaymentIntents(uow, ids, clock),
        vault=vault.api,
        card_vault=vault.cards,
        vault_access=vault,
    )
