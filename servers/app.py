"""The composition root: builds adapters from settings and hands them to the use-cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.acquirers.dispute_decisions import SimulatedDisputeDecisions
from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.use_cases import ApiKeys
from core.ledger.balances import Balances
from core.ledger.disputes import Disputes
from core.ledger.hooks import LedgerHooks
from core.ledger.payouts import Payouts
from core.ledger.ports import DisputeDecisions
from core.ledger.settlement import SettlementBatch, Settlements
from core.payments.use_cases import PaymentIntents
from core.shared.ports import Clock, IdGenerator
from core.shared.unit_of_work import UnitOfWorkFactory
from servers.settings import Settings


@dataclass
class App:
    api_keys: ApiKeys
    payment_intents: PaymentIntents
    balances: Balances
    payouts: Payouts
    settlements: Settlements
    disputes: Disputes
    # For the worker role: the daily batches (settlement, payouts, disputes).
    settlement_batch: SettlementBatch
    # For the payment use-cases: post captures, refunds and disputes in their transaction.
    ledger_hooks: LedgerHooks
    engine: AsyncEngine | None = None

    async def aclose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


def compose(
    uow: UnitOfWorkFactory,
    ids: IdGenerator,
    clock: Clock,
    *,
    engine: AsyncEngine | None = None,
    dispute_decisions: DisputeDecisions | None = None,
) -> App:
    """Every use-case over one unit-of-work factory (PostgreSQL, or memory in tests)."""
    return App(
        engine=engine,
        api_keys=ApiKeys(uow, ids, clock),
        payment_intents=PaymentIntents(uow, ids, clock),
        balances=Balances(uow),
        payouts=Payouts(uow, ids, clock),
        settlements=Settlements(uow),
        disputes=Disputes(uow, ids, clock, dispute_decisions or SimulatedDisputeDecisions()),
        settlement_batch=SettlementBatch(uow, ids),
        ledger_hooks=LedgerHooks(ids),
    )


def build_app(settings: Settings, database_url: str) -> App:
    engine = create_engine(database_url, pool_size=settings.db_pool_size)
    uow = SqlUnitOfWorkFactory(engine, fx_max_age=timedelta(hours=settings.fx_max_age_hours))
    return compose(uow, RandomIds(), SystemClock(), engine=engine)
