"""An engine whose round trips to PostgreSQL are counted.

A round trip is counted as one of asyncpg's writes to the server's socket: asyncpg
writes each request (a simple query, or a statement's bind, execute and sync) at once and
then waits for the server's ReadyForQuery.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class CountedPool:
    """`engine`'s writes to the server, once `count_writes` ran, and its discarded
    connections."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.writes = 0
        self.invalidated = 0
        self._transports: set[int] = set()
        pool = engine.sync_engine.pool
        event.listen(pool, "connect", self._connected)
        event.listen(pool, "invalidate", self._invalidated)

    @property
    def checked_out(self) -> int:
        return int(self.engine.sync_engine.pool.checkedout())  # type: ignore[attr-defined]

    async def count_writes(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Counts, from now until the test ends, every write of this engine's
        connections (and of no other engine's)."""
        async with self.engine.connect() as connection:
            transport = (await connection.get_raw_connection()).driver_connection._transport
        write = type(transport).write

        def counted(transport: Any, data: Any) -> None:
            if id(transport) in self._transports:
                self.writes += 1
            write(transport, data)

        monkeypatch.setattr(type(transport), "write", counted)

    def _connected(self, dbapi_connection: Any, record: Any) -> None:
        self._transports.add(id(dbapi_connection.driver_connection._transport))

    def _invalidated(self, dbapi_connection: Any, record: Any, error: Any) -> None:
        self.invalidated += 1
