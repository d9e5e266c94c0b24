"""IntentChanges over PostgreSQL LISTEN/NOTIFY.

payment_events' insert trigger (migration 0006_watch) sends
`NOTIFY payment_intent_changed, '<intent id>'`, which PostgreSQL delivers at commit. Each
process that has watchers holds one connection of its own (outside the pool: a pooled
connection would stop listening when returned) that LISTENs on the channel, and fans each
notification out to the subscriptions of that intent.

The connection is opened by the first subscription and kept while the process runs. If
it breaks (server restart, failover, network), a notification may have been missed, so
every subscription ends (watchers end their streams with a final message and clients
come back) and the next subscription connects again. A probe every `probe_every` seconds
notices a connection that died silently.

Cost on the database: one connection per process that watches; the notifying commits
take a global lock on the notification queue at commit, which serializes them for a
moment (see docs/payments.md, "Watch").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any

import asyncpg

from adapters.memory.intent_changes import Subscribers
from adapters.sql.engine import asyncpg_url
from adapters.sql.tables import INTENT_CHANGED_CHANNEL
from core.shared.errors import Unavailable

log = logging.getLogger("paygate.intent_changes")


class PostgresIntentChanges:
    def __init__(
        self,
        database_url: str,
        *,
        connect_timeout: float = 5.0,
        probe_every: float = 30.0,
    ) -> None:
        self._dsn = asyncpg_url(database_url).set(drivername="postgresql")
        self._connect_timeout = connect_timeout
        self._probe_every = probe_every
        self._subscribers = Subscribers()
        self._connection: asyncpg.Connection | None = None
        self._connecting = asyncio.Lock()
        self._probe: asyncio.Task[None] | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @property
    def listening(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    def subscribe(self, merchant_id: str, intent_id: str) -> AsyncGenerator[None, None]:
        return self._subscribers.listen(intent_id, prepare=self._listen)

    async def aclose(self) -> None:
        """Ends every subscription and closes the connection; new ones end at once."""
        self._subscribers.closed = True
        self._subscribers.end_all()
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)

    # --- the connection ------------------------------------------------------------------

    async def _listen(self) -> None:
        if self.listening:
            return
        async with self._connecting:
            if self.listening:
                return
            try:
                connection = await asyncpg.connect(
                    self._dsn.render_as_string(hide_password=False),
                    timeout=self._connect_timeout,
                    server_settings={"application_name": "paygate-listen"},
                )
                await connection.add_listener(INTENT_CHANGED_CHANNEL, self._notified)
            except (OSError, TimeoutError, asyncpg.PostgresError) as error:
                log.warning("cannot listen for intent changes: %s", error)
                raise Unavailable("Cannot watch payment intents right now; retry.") from error
            connection.add_termination_listener(self._lost)
            self._connection = connection
            if self._probe is None or self._probe.done():
                self._probe = asyncio.create_task(self._probe_forever())

    def _notified(self, connection: Any, pid: int, channel: str, payload: object) -> None:
        self._subscribers.tick((str(payload),))  # the id of the intent that changed

    def _lost(self, connection: Any) -> None:
        if connection is not self._connection:
            return
        self._connection = None
        if not self._subscribers.closed:
            log.warning("lost the intent change feed; ending %d watches", self.subscribers)
        self._subscribers.end_all()

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(self._probe_every)
            connection = self._connection
            if connection is None:
                return
            try:
                await connection.fetchval("SELECT 1", timeout=self._connect_timeout)
            except Exception:  # dead or stuck: drop it; the next subscription reconnects
                connection.terminate()
                self._lost(connection)
                return
