"""A unit of work's connection: checked out of SQLAlchemy's pool and returned to it.

The pool is SQLAlchemy's (adapters/sql/engine.py: its bound, its wait and PoolTimeout
when exhausted, ping-when-idle, recycle, invalidation, the reset hook that never pools a
connection with a transaction open, `pool_stats`, `dispose`). What is the unit of work's
is the way there and back: one synchronous call each way, run on a reused greenlet
(adapters/sql/greenlets.py) instead of a new one per step. Checking out is the pool's
checkout, SQLAlchemy's connection put in autocommit (the unit of work sends BEGIN, COMMIT
and ROLLBACK itself on asyncpg) and SQLAlchemy's adapter of the asyncpg connection, in
one call; returning is the connection's close, in another (the pool's reset-on-return,
which finds nothing to roll back).

Autocommit is set on SQLAlchemy's adapter itself (a flag: no statement), not through
`execution_options(isolation_level="AUTOCOMMIT")`, whose bookkeeping (the connection's
characteristics, set at checkout and reset at return) was a fifth of the checkout's
CPU. SQLAlchemy's connection does not know it is in autocommit: the transaction it
"begins" at its first statement costs nothing (asyncpg's dialect begins lazily, and the
adapter in autocommit not at all), and the rollback at its close finds nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.greenlets import run_sync


def _check_out(engine: Engine) -> tuple[Connection, Any]:
    connection = engine.connect()
    try:
        adapted: Any = connection.connection.dbapi_connection
    except BaseException:
        connection.close()
        raise
    # SQLAlchemy's adapter begins no transaction of its own, whatever SQLAlchemy runs;
    # the pool takes it out of autocommit when the connection comes back
    # (adapters/sql/engine.py).
    adapted.autocommit = True
    return connection, adapted


async def check_out(engine: AsyncEngine) -> tuple[AsyncConnection, Any]:
    """A pooled connection in autocommit, and SQLAlchemy's adapter of its asyncpg
    connection. Raises as `engine.connect()` does (PoolTimeout when the pool stays
    exhausted, the driver's error when a new connection cannot be made)."""
    connection, adapted = await run_sync(_check_out, engine.sync_engine)
    return AsyncConnection(engine, connection), adapted


async def check_in(connection: AsyncConnection) -> None:
    """The connection back to the pool (or discarded, if invalidated), as
    `AsyncConnection.close()` does."""
    sync = connection.sync_connection
    if sync is not None:
        await run_sync(sync.close)
