"""The composition root: builds adapters from settings and hands them to the use-cases."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.idempotency import MemoryIdempotencyStore
from adapters.sql.engine import create_engine
from adapters.sql.idempotency import SqlIdempotencyStore
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.use_cases import ApiKeys
from core.idempotency.use_cases import Idempotency
from core.payments.use_cases import PaymentIntents
from servers.settings import Settings

log = logging.getLogger("paygate.app")

# The request-hash key when PAYGATE_IDEMPOTENCY_HASH_KEY is unset: fine for test mode on
# one machine, never for live card data (docs/idempotency.md).
DEVELOPMENT_HASH_KEY = b"paygate-development-idempotency-hash-key"


def in_process_idempotency() -> Idempotency:
    """Idempotency kept in this process: for tests and an App built by hand."""
    return Idempotency(MemoryIdempotencyStore(), SystemClock(), hash_key=DEVELOPMENT_HASH_KEY)


@dataclass
class App:
    api_keys: ApiKeys
    payment_intents: PaymentIntents
    engine: AsyncEngine | None = None
    idempotency: Idempotency = field(default_factory=in_process_idempotency)

    async def aclose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


def build_app(settings: Settings, database_url: str) -> App:
    engine = create_engine(database_url, pool_size=settings.db_pool_size)
    uow = SqlUnitOfWorkFactory(engine)
    ids, clock = RandomIds(), SystemClock()
    hash_key = settings.idempotency_hash_key.encode()
    if not hash_key:
        log.warning("PAYGATE_IDEMPOTENCY_HASH_KEY is not set: using the development key")
        hash_key = DEVELOPMENT_HASH_KEY
    return App(
        engine=engine,
        api_keys=ApiKeys(uow, ids, clock),
        payment_intents=PaymentIntents(uow, ids, clock),
        idempotency=Idempotency(SqlIdempotencyStore(engine), clock, hash_key=hash_key),
    )
