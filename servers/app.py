"""The composition root: builds adapters from settings and hands them to the use-cases."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.use_cases import ApiKeys
from core.payments.use_cases import PaymentIntents
from servers.settings import Settings


@dataclass
class App:
    api_keys: ApiKeys
    payment_intents: PaymentIntents
    engine: AsyncEngine | None = None

    async def aclose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


def build_app(settings: Settings, database_url: str) -> App:
    engine = create_engine(database_url, pool_size=settings.db_pool_size)
    uow = SqlUnitOfWorkFactory(engine)
    ids, clock = RandomIds(), SystemClock()
    return App(
        engine=engine,
        api_keys=ApiKeys(uow, ids, clock),
        payment_intents=PaymentIntents(uow, ids, clock),
    )
