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

Cost on the database: one connection per process that watches; the notifying commits
take a global lock on the notification queue at commit, which serializes them for a
moment (see docs/payments.md, "Watch").
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

from adapters.memory.intent_changes import Subscribers
from adapters.sql.listener import CONNECT_ERRORS, Listener
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
        self._subscribers = Subscribers()
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
        return self._subscribers.listen(intent_id, prepare=self._listen)

    async def aclose(self) -> None:
        """Ends every subscription and closes the connection; new ones end at once."""
        self._subscribers.closed = True
        self._subscribers.end_all()
        await self._listener.aclose()

    async def _listen(self) -> None:
        try:
            await self._listener.connect()
        except CONNECT_ERRORS as error:
            log.warning("cannot listen for intent changes: %s", error)
            raise Unavailable("Cannot watch payment intents right now; retry.") from error

    def _notified(self, payload: str) -> None:
        self._subscribers.tick((payload,))  # the id of the intent that changed

    def _lost(self) -> None:
        if not self._subscribers.closed:
            log.warning("lost the intent change feed; ending %d watches", self.subscribers)
        self._subscribers.end_all()
