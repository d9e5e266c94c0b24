"""DeliveryWakeups over PostgreSQL LISTEN/NOTIFY.

webhook_deliveries' and webhook_endpoints' triggers (migration 0020_webhook_due) send
`NOTIFY webhook_delivery_due` at the commit of anything that may make a delivery due
now: a new delivery, one sent again, an endpoint enabled again. The worker holds one
connection of its own that LISTENs on the channel (adapters/sql/listener.py) and wakes
its webhook dispatcher, which then claims at once instead of polling every 0.1 s.

Whenever the feed begins to listen or loses its connection it wakes the dispatcher too
(a notification may have been missed), and while it is not listening the dispatcher
polls as it did without it (core/events/delivery.py).
"""

from __future__ import annotations

from collections.abc import Callable

from adapters.sql.listener import ListeningFeed
from adapters.sql.tables import WEBHOOK_DUE_CHANNEL


class PostgresDeliveryWakeups(ListeningFeed):
    what = "due webhook deliveries (the dispatcher polls every 0.1 s meanwhile)"

    def __init__(self, database_url: str, *, connect_timeout: float = 5.0) -> None:
        super().__init__(
            database_url, WEBHOOK_DUE_CHANNEL, name="webhook-due", connect_timeout=connect_timeout
        )
        self._wake: list[Callable[[], None]] = []

    def follow(self, wake: Callable[[], None]) -> None:
        self._wake.append(wake)

    def _notified(self, payload: str) -> None:
        self._missed()

    def _missed(self) -> None:
        for wake in self._wake:
            wake()
