"""KeyChanges over PostgreSQL LISTEN/NOTIFY.

api_keys' trigger (migration 0019_api_key_changes) sends `NOTIFY api_key_changed,
'<lookup>'` for every change of a key that authentication reads (revocation, expiry,
allowed_ips, role, deletion; not the usage counts), delivered at commit. Each process
that authenticates API keys holds one connection of its own that LISTENs on the channel
(adapters/sql/listener.py) and tells its followers (ApiKeys.forget) each lookup.

The feed listens from start() until aclose(), connecting again by itself, with backoff,
whenever the connection is lost or cannot be made. Whenever it begins to listen and
whenever it loses its connection, it tells its followers that changes may have been
missed (ApiKeys.forget_all): what a process read of a key is then trusted for at most
KEY_CACHE_TTL, as without the feed. Requests never wait for it nor fail because of it.

Cost on the database: one connection per process that authenticates; a key change's
commit takes the notification queue's lock for a moment (key changes are rare).
"""

from __future__ import annotations

from collections.abc import Callable

from adapters.sql.listener import ListeningFeed
from adapters.sql.tables import API_KEY_CHANGED_CHANNEL


class PostgresKeyChanges(ListeningFeed):
    what = "API key changes (keys are trusted for up to their cache time)"

    def __init__(self, database_url: str, **timing: float) -> None:
        """`timing`: ListeningFeed's connect_timeout, probe_every, retry_first, retry_max."""
        super().__init__(database_url, API_KEY_CHANGED_CHANNEL, name="key-changes", **timing)
        self._followers: list[tuple[Callable[[str], None], Callable[[], None]]] = []

    def follow(self, changed: Callable[[str], None], missed: Callable[[], None]) -> None:
        self._followers.append((changed, missed))

    def _notified(self, lookup: str) -> None:
        for changed, _ in self._followers:
            changed(lookup)

    def _missed(self) -> None:
        for _, missed in self._followers:
            missed()
