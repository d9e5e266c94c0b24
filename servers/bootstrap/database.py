"""The gateway's database for a command that runs and ends (the operator commands, the
launcher's seeding): one engine, its unit of work, disposed on the way out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    uow: SqlUnitOfWorkFactory


# Operator commands (reports, reconcile) may scan whole tables: a longer bound.
OPERATOR_COMMAND_TIMEOUT_SECONDS = 600.0


@asynccontextmanager
async def database(url: str, *, pool_size: int = 2) -> AsyncIterator[Database]:
    engine = create_engine(
        url, pool_size=pool_size, command_timeout=OPERATOR_COMMAND_TIMEOUT_SECONDS
    )
    try:
        yield Database(engine, SqlUnitOfWorkFactory(engine))
    finally:
        await engine.dispose()
