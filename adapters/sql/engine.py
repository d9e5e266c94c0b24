"""The one way paygate opens PostgreSQL: SQLAlchemy's async engine over asyncpg."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An engine for one process; dispose() it on shutdown. Creates no connection yet."""
    return create_async_engine(
        asyncpg_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size // 2,
        # A connection that died while pooled (server restart, failover) is replaced
        # instead of failing the next request.
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"server_settings": {"application_name": "paygate"}},
    )
