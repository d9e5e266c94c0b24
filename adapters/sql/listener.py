"""One PostgreSQL LISTEN connection: what every change feed of the process is built on
(adapters/sql/intent_changes.py, adapters/sql/key_changes.py).

The connection is its own, outside the pool (a pooled connection would stop listening
when returned). It calls `notified(payload)` for each notification on its channel, and
`lost()` once when the connection breaks (server restart, failover, network): the
feed may then have missed notifications. A probe every `probe_every` seconds notices a
connection that died silently. Connecting again is the feed's business (`connect()`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg

from adapters.sql.engine import asyncpg_url

# What connecting may raise when the database cannot be reached or refuses.
CONNECT_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError)


class Listener:
    def __init__(
        self,
        database_url: str,
        channel: str,
        notified: Callable[[str], None],
        lost: Callable[[], None],
        *,
        connect_timeout: float = 5.0,
        probe_every: float = 30.0,
    ) -> None:
        self._dsn = asyncpg_url(database_url).set(drivername="postgresql")
        self._channel = channel
        self._notified = notified
        self._on_lost = lost
        self._connect_timeout = connect_timeout
        self._probe_every = probe_every
        self._connection: asyncpg.Connection | None = None
        self._connecting = asyncio.Lock()
        self._probe: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def listening(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    @property
    def server_pid(self) -> int | None:
        """The listening backend's process id (tests terminate it)."""
        return self._connection.get_server_pid() if self._connection is not None else None

    async def connect(self) -> bool:
        """Connects and LISTENs unless it already does; True when it connected now.
        Raises one of CONNECT_ERRORS when it cannot."""
        if self.listening:
            return False
        async with self._connecting:
            if self.listening or self._closed:
                return False
            connection = await asyncpg.connect(
                self._dsn.render_as_string(hide_password=False),
                timeout=self._connect_timeout,
                server_settings={"application_name": "paygate-listen"},
            )
            try:
                await connection.add_listener(self._channel, self._notify)
            except BaseException:
                connection.terminate()
                raise
            connection.add_termination_listener(self._terminated)
            self._connection = connection
            if self._probe is None or self._probe.done():
                self._probe = asyncio.create_task(self._probe_forever())
            return True

    async def aclose(self) -> None:
        """Closes the connection (without calling `lost`); connect() does nothing after."""
        self._closed = True
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)

    def _notify(self, connection: Any, pid: int, channel: str, payload: object) -> None:
        self._notified(str(payload))

    def _terminated(self, connection: Any) -> None:
        if connection is not self._connection:
            return
        self._connection = None
        self._on_lost()

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(self._probe_every)
            connection = self._connection
            if connection is None:
                return
            try:
                await connection.fetchval("SELECT 1", timeout=self._connect_timeout)
            except Exception:  # dead or stuck: drop it; the feed connects again
                connection.terminate()
                self._terminated(connection)
                return
