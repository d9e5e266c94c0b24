"""The one way paygate opens PostgreSQL: SQLAlchemy's async engine over asyncpg."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy.ext.asyncio as sqlalchemy_async
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

_DRIVERLESS = {"postgres", "postgresql"}


def asyncpg_url(database_url: str | URL) -> URL:
    """`postgresql://`, `postgres://` or `postgresql+asyncpg://` as an asyncpg URL.

    The embedded server is reached through its Unix socket folder:
    `postgresql+asyncpg://postgres@/DB?host=/socket/dir` (the user is required).
    """
    url = make_url(database_url)
    if url.drivername in _DRIVERLESS:
        url = url.set(drivername="postgresql+asyncpg")
    if url.drivername != "postgresql+asyncpg":
        raise ValueError(f"paygate speaks PostgreSQL through asyncpg; got a {url.drivername!r} URL")
    return url


CONNECT_TIMEOUT_SECONDS = 5.0
# The longest one statement (BEGIN and COMMIT included) may wait for the server. Without
# it a connection whose server stopped answering (a network black hole: no FIN, no RST)
# holds its request forever; with it the call fails as UNAVAILABLE and the connection is
# discarded. Transactions here are short; operator commands that scan whole tables pass
# more.
COMMAND_TIMEOUT_SECONDS = 30.0
# A pooled connection idle for longer than this is checked with a ping before it is used.
PING_AFTER_IDLE_SECONDS = 10.0


def create_engine(
    database_url: str,
    *,
    pool_size: int = 10,
    command_timeout: float = COMMAND_TIMEOUT_SECONDS,
) -> AsyncEngine:
    """An engine for one process; dispose() it on shutdown. Creates no connection yet."""
    # Looked up on the module at each call: tracing (adapters/observability/tracing.py)
    # wraps it there, so that the engines of a traced process trace their statements.
    engine = sqlalchemy_async.create_async_engine(
        asyncpg_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size // 2,
        pool_recycle=1800,
        # A server that does not answer (stopped, black-holed) fails a request in seconds
        # as UNAVAILABLE rather than holding it for asyncpg's default minute.
        connect_args={
            "server_settings": {"application_name": "paygate"},
            "timeout": CONNECT_TIMEOUT_SECONDS,
            "command_timeout": command_timeout,
        },
    )
    _ping_when_idle(engine)
    _no_transaction_back_to_the_pool(engine)
    _out_of_autocommit_when_pooled(engine)
    return engine


class OpenTransaction(RuntimeError):
    """A connection came back to the pool with a transaction open."""


def _no_transaction_back_to_the_pool(engine: AsyncEngine) -> None:
    """The unit of work begins and ends its transactions on asyncpg itself
    (adapters/sql/unit_of_work.py), where SQLAlchemy's reset-on-return cannot see them:
    it rolls back only a transaction it began. The unit of work rolls back whatever is
    open before it returns its connection; should that ever not happen (a cancellation
    between the two), the connection is discarded here, never pooled with its
    transaction: an error raised by this hook makes the pool invalidate the connection,
    and closing it ends the transaction on the server. SQLAlchemy's own transactions
    (`engine.begin()` elsewhere) are left to its reset, which follows."""

    @event.listens_for(engine.sync_engine.pool, "reset")
    def reset(dbapi_connection: Any, record: Any, reset_state: Any) -> None:
        # SQLAlchemy's own transactions (engine.begin(), a connection left in one) are
        # SQLAlchemy's to roll back, next; only one it does not know of is discarded.
        if (
            getattr(dbapi_connection, "_transaction", None) is None
            and dbapi_connection.driver_connection.is_in_transaction()
        ):
            raise OpenTransaction("a connection came back to the pool with a transaction open")


def _out_of_autocommit_when_pooled(engine: AsyncEngine) -> None:
    """A unit of work puts SQLAlchemy's adapter in autocommit itself, with a flag
    (adapters/sql/checkout.py); every connection goes back to the pool out of it, so that
    the next user (`engine.begin()` in a worker's job) gets its transaction. SQLAlchemy's
    own isolation levels (`execution_options`) are reset before this runs, and this
    engine sets none at connect: a connection still in autocommit here is a unit of
    work's."""

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None and dbapi_connection.autocommit:
            dbapi_connection.autocommit = False


def _ping_when_idle(engine: AsyncEngine) -> None:
    """A connection that died while pooled (server restart, failover) is replaced instead
    of failing the next request; but only a connection that sat idle is pinged: under load
    (connections back in the pool within milliseconds) a ping per checkout would be a
    round trip per transaction. A server lost mid-use fails that request, and SQLAlchemy
    then discards the whole pool, so the next requests reconnect."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError("the pooled connection is gone") from error


def pool_stats(engine: AsyncEngine) -> dict[str, int]:
    """The pool's connections by state, for the metrics (read from the scrape thread:
    plain integer reads, no lock taken)."""
    pool: Any = engine.sync_engine.pool
    return {
        "size": pool.size(),
        "checked_out": pool.checkedout(),
        "idle": pool.checkedin(),
        "overflow": max(0, pool.overflow()),
    }
