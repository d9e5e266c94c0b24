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

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

from adapters.sql.listener import Listener
from adapters.sql.tables import API_KEY_CHANGED_CHANNEL

log = logging.getLogger("paygate.key_changes")


class PostgresKeyChanges:
    def __init__(
        self,
        database_url: str,
        *,
        connect_timeout: float = 5.0,
        probe_every: float = 10.0,
        retry_first: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        self._followers: list[tuple[Callable[[str], None], Callable[[], None]]] = []
        self._listener = Listener(
            database_url,
            API_KEY_CHANGED_CHANNEL,
            self._notified,
            self._lost,
            connect_timeout=connect_timeout,
            probe_every=probe_every,
        )
        self._retry_first, self._retry_max = retry_first, retry_max
        self._down = asyncio.Event()
        self._tried = asyncio.Event()  # the first attempt to listen is over
        self._connect_timeout = connect_timeout
        self._task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._listener.listening

    def follow(self, changed: Callable[[str], None], missed: Callable[[], None]) -> None:
        self._followers.append((changed, missed))

    async def start(self) -> None:
        """Begins listening, and keeps at it in the background. Returns once the first
        attempt has connected or failed (at most the connect timeout): a process that
        starts with its database up serves listening, one that cannot reach it does not
        wait for it. Idempotent."""
        if self._task is None:
            self._task = asyncio.create_task(self._keep_listening(), name="key-changes")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._tried.wait(), self._connect_timeout + 1)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._listener.aclose()

    async def _keep_listening(self) -> None:
        delay = self._retry_first
        while True:
            try:
                await self._listener.connect()
            except Exception as error:  # unreachable, refused, or anything else: retry
                self._tried.set()
                log.warning(
                    "cannot listen for API key changes (keys are trusted for up to their "
                    "cache time): %s; trying again in %.1f s",
                    error,
                    delay,
                )
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self._retry_max)
                continue
            delay = self._retry_first
            # Listening from now on: a change committed before may not have been told.
            self._missed()
            self._tried.set()
            await self._down.wait()
            self._down.clear()

    def _notified(self, lookup: str) -> None:
        for changed, _ in self._followers:
            changed(lookup)

    def _lost(self) -> None:
        log.warning("lost the API key change feed: reading every key again; reconnecting")
        self._missed()
        self._down.set()

    def _missed(self) -> None:
        for _, missed in self._followers:
            missed()
