"""The composition root: builds adapters from settings and hands them to the use-cases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.acquirers import CardNetworkSimulator, UpiSimulator
from adapters.acquirers.router import StaticAcquirerRouter
from adapters.memory.card_vault import MemoryCardVault
from adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.use_cases import ApiKeys
from core.payments.acquirer import AuthorizationResult
from core.payments.lifecycle import PaymentLifecycle
from core.payments.model import PaymentPolicy
from core.payments.ports import CardVault
from core.payments.refunds import Refunds
from core.payments.use_cases import PaymentIntents
from core.shared.ports import Clock, IdGenerator
from core.shared.unit_of_work import UnitOfWorkFactory
from servers.settings import Settings

# Acquirer names, as attempts remember them: renaming one strands its attempts.
CARD_NETWORK = "card_network_simulator"
UPI_SWITCH = "upi_simulator"


@dataclass
class App:
    api_keys: ApiKeys
    payment_intents: PaymentIntents
    payments: PaymentLifecycle
    refunds: Refunds
    card_vault: CardVault
    engine: AsyncEngine | None = None
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in self.closers:
            await close()
        if self.engine is not None:
            await self.engine.dispose()


def build_app(settings: Settings, database_url: str, *, card_vault: CardVault | None = None) -> App:
    engine = create_engine(database_url, pool_size=settings.db_pool_size)
    app = _assemble(settings, SqlUnitOfWorkFactory(engine), RandomIds(), SystemClock(), card_vault)
    app.engine = engine
    return app


def build_memory_app(settings: Settings | None = None) -> App:
    """Everything in this process's memory: for in-process tests and demos."""
    return _assemble(settings or Settings(), MemoryUnitOfWorkFactory(), RandomIds(), SystemClock())


def _assemble(
    settings: Settings,
    uow: UnitOfWorkFactory,
    ids: IdGenerator,
    clock: Clock,
    card_vault: CardVault | None = None,
) -> App:
    # The card vault's adapter comes with the vault (its own issue); until it is wired
    # here, cards come from an empty in-memory vault and every tok_ is NOT_FOUND.
    vault = card_vault or MemoryCardVault()
    settle_collect = _LateBound()
    card_network = CardNetworkSimulator(
        challenge_base_url=settings.web_base_url,
        latency=settings.simulator_latency,
        clock=clock,
    )
    upi = UpiSimulator(
        approval_delay=settings.upi_approval_delay,
        latency=settings.simulator_latency,
        on_complete=settle_collect,
        clock=clock,
    )
    router = StaticAcquirerRouter(
        {CARD_NETWORK: card_network, UPI_SWITCH: upi},
        {"card": CARD_NETWORK, "upi": UPI_SWITCH},
    )
    policy = PaymentPolicy(max_failed_attempts=settings.max_failed_attempts)
    payments = PaymentLifecycle(uow, ids, clock, vault=vault, acquirers=router, policy=policy)

    async def sync_collect(result: AuthorizationResult) -> None:
        # The switch's completion callback, as a PSP's webhook would be: settle at once
        # instead of waiting for the poller (which stays the fallback).
        await payments.sync_attempt(result.attempt_reference)

    settle_collect.target = sync_collect
    return App(
        api_keys=ApiKeys(uow, ids, clock),
        payment_intents=PaymentIntents(uow, ids, clock),
        payments=payments,
        refunds=Refunds(uow, ids, clock, acquirers=router),
        card_vault=vault,
        closers=[upi.aclose],
    )


class _LateBound:
    """A callback whose target is set after the object that calls it is built."""

    target: Callable[[AuthorizationResult], Awaitable[None]] | None = None

    async def __call__(self, result: AuthorizationResult) -> None:
        if self.target is not None:
            await self.target(result)
