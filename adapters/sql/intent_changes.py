"""IntentChanges over PostgreSQL LISTEN/NOTIFY.

payment_events' insert trigger (migration 0006_watch) sends
`NOTIFY payment_intent_changed, '<intent id>'`, which PostgreSQL delivers at commit. Each
process that has watchers holds one connection of its own (outside the pool: a pooled
connection would stop listening when returned) that LISTENs on the channel, and fans each
notification out to the subscriptions of that intent.

The connection (adapters/sql/listener.py) is opened by the first subscription and kept
while the process runs. If it breaks (server restart, failover, network), a notification
may have been missed, so every subscription ends (watchers end their streams with a final
message and clients come back) and the next subscription connects again. A probe every
`probe_every` seconds notices a connection that died silently.

Only watched intents are notified (migration 0021_watched_intents): before its first
tick, a subscription registers the intent in `watched_intents` on the listening connection
(the row's watcher is that backend's pid), under the intent's advisory lock, which the
trigger takes shared before it looks; the reader loads the intent only after that. The
last subscription of an intent in the process deletes the row. Rows of connections that
are gone are reaped when the listener connects and by the worker (`reap_watchers`). The
proof that no change is missed is in the migration and docs/payments.md, "Watch".

Cost on the database: one connection per process that watches; one registration and one
deletion per watched intent; notifying commits (which take a global lock on the
notification queue at commit and so serialize) only for watched intents.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncGenerator
from typing import cast

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.intent_changes import Subscribers
from adapters.sql.listener import CONNECT_ERRORS, Listener, NotListening
from adapters.sql.tables import INTENT_CHANGED_CHANNEL
from core.shared.errors import Unavailable

log = logging.getLogger("paygate.intent_changes")

# The first half of an intent's watch lock (0021_watched_intents' WATCH_LOCK); the second
# is hashtext(intent id).
WATCH_LOCK = 0x57544348
# The intent's lock, then the row: the trigger of a writer that took the lock first is
# waited for (its change is then visible to the read that follows), one that comes after
# waits for this commit and sees the row.
REGISTER = f"""
INSERT INTO watched_intents (intent_id, watcher, since)
SELECT $1::text, pg_backend_pid(), now()
FROM (SELECT pg_advisory_xact_lock({WATCH_LOCK}, hashtext($1::text))) AS locked
ON CONFLICT DO NOTHING
"""
UNREGISTER = "DELETE FROM watched_intents WHERE intent_id = $1 AND watcher = pg_backend_pid()"
# Rows whose watcher is no backend that was there when they were registered: the pid is
# gone, or a newer backend reuses it. (backend_start is NULL for another role's backend:
# kept, a stale row costs only notifications.)
REAP = """
DELETE FROM watched_intents w
WHERE NOT EXISTS (
    SELECT FROM pg_stat_activity a
    WHERE a.pid = w.watcher AND (a.backend_start IS NULL OR a.backend_start <= w.since)
)
"""


async def reap_watchers(engine: AsyncEngine) -> int:
    """The worker's job: deletes the rows of watchers that are gone; how many."""
    async with engine.begin() as connection:
        return (await connection.execute(text(REAP))).rowcount or 0


class PostgresIntentChanges:
    def __init__(
        self,
        database_url: str,
        *,
        connect_timeout: float = 5.0,
        probe_every: float = 30.0,
    ) -> None:
        self._subscribers = Subscribers()
        # Local subscriptions per (listening backend pid, intent): the row is registered
        # with the first and deleted with the last. One registry change at a time.
        self._watching: Counter[tuple[int, str]] = Counter()
        self._registry = asyncio.Lock()
        self._listener = Listener(
            database_url,
            INTENT_CHANGED_CHANNEL,
            self._notified,
            self._lost,
            connect_timeout=connect_timeout,
            probe_every=probe_every,
        )

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @property
    def listening(self) -> bool:
        return self._listener.listening

    def subscribe(self, merchant_id: str, intent_id: str) -> AsyncGenerator[None, None]:
        return self._subscribers.listen(
            intent_id, prepare=self._listen, watch=self._watch, unwatch=self._unwatch
        )

    async def aclose(self) -> None:
        """Ends every subscription and closes the connection; new ones end at once."""
        self._subscribers.closed = True
        self._subscribers.end_all()
        await self._listener.aclose()

    async def _listen(self) -> None:
        try:
            connected = await self._listener.connect()
        except CONNECT_ERRORS as error:
            log.warning("cannot listen for intent changes: %s", error)
            raise Unavailable("Cannot watch payment intents right now; retry.") from error
        if connected:
            try:  # the rows of listeners gone (this process's previous one, say)
                await self._listener.run(REAP)
            except NotListening as error:
                log.warning("cannot reap the watchers gone: %s", error)

    async def _watch(self, intent_id: str) -> object:
        """Registers the intent for this process's listening backend (unless a local
        subscription already did); returns what `_unwatch` needs. Raises Unavailable."""
        async with self._registry:
            pid = self._listener.server_pid
            if pid is None or not self._watching[(pid, intent_id)]:
                try:
                    pid, _ = await self._listener.run(REGISTER, intent_id)
                except NotListening as error:
                    log.warning("cannot register a watch: %s", error)
                    raise Unavailable("Cannot watch payment intents right now; retry.") from error
            self._watching[(pid, intent_id)] += 1
            return (pid, intent_id)

    async def _unwatch(self, registered: object) -> None:
        """Deletes the row with the process's last subscription of the intent. A row left
        behind (the connection is gone, the database does not answer) costs only
        notifications, and is reaped once its backend has gone."""
        pid, intent_id = cast(tuple[int, str], registered)
        async with self._registry:
            self._watching[(pid, intent_id)] -= 1
            if self._watching[(pid, intent_id)] > 0:
                return
            del self._watching[(pid, intent_id)]
            if pid != self._listener.server_pid:
                return  # that connection is gone: its rows are reaped
            try:
                await self._listener.run(UNREGISTER, intent_id)
            except NotListening as error:
                log.warning("cannot unregister a watch: %s", error)

    def _notified(self, payload: str) -> None:
        self._subscribers.tick((payload,))  # the id of the intent that changed

    def _lost(self) -> None:
        if not self._subscribers.closed:
            log.warning("lost the intent change feed; ending %d watches", self.subscribers)
        self._subscribers.end_all()
