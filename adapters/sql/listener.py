"""One PostgreSQL LISTEN connection: what every change feed of the process is built on
(adapters/sql/intent_changes.py, adapters/sql/key_changes.py, adapters/sql/webhook_due.py).

The connection is its own, outside the pool (a pooled connection would stop listening
when returned). It calls `notified(payload)` for each notification on its channel, and
`lost()` once when the connection breaks (server restart, failover, network): the
feed may then have missed notifications. A probe every `probe_every` seconds notices a
connection that died silently. Connecting again is the feed's business (`connect()`).

`run()` executes a statement on the listening connection itself (the intent feed
registers its watches there, so that a row's watcher is the listening backend): one
statement at a time, the probe's included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

import asyncpg

from adapters.sql.engine import asyncpg_url

log = logging.getLogger("paygate.listener")

# What connecting may raise when the database cannot be reached or refuses.
CONNECT_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError)


class NotListening(Exception):
    """run() could not run its statement: no connection, or it broke (it is then dropped
    and `lost` called), or the statement failed or timed out (the connection is kept)."""


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
        self._busy = asyncio.Lock()  # one statement at a time on the connection
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

    async def run(self, query: str, *args: object) -> tuple[int, str]:
        """Executes `query` on the listening connection, in autocommit (one statement is
        one transaction): the backend's pid and the command's status. Raises NotListening
        when it cannot; a connection that broke is dropped first (and `lost` called). The
        statement is shielded from the caller's cancellation (it ends within the connect
        timeout), so the connection is never left with a statement cut in the middle."""
        task = asyncio.ensure_future(self._run(query, args))
        # A caller cancelled meanwhile no longer awaits it: its outcome is dropped here.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(task)

    async def _run(self, query: str, args: tuple[object, ...]) -> tuple[int, str]:
        async with self._busy:
            connection = self._connection
            if connection is None or connection.is_closed():
                raise NotListening("not listening")
            try:
                status = await connection.execute(query, *args, timeout=self._connect_timeout)
            except (asyncpg.PostgresError, TimeoutError) as error:
                # The server answered (or asyncpg cancelled the statement): still usable.
                raise NotListening(str(error)) from error
            except Exception as error:  # broken: closed, reset, another operation, ...
                connection.terminate()
                self._terminated(connection)
                raise NotListening(str(error)) from error
            return connection.get_server_pid(), status

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
                async with self._busy:
                    await connection.fetchval("SELECT 1", timeout=self._connect_timeout)
            except Exception:  # dead or stuck: drop it; the feed connects again
                connection.terminate()
                self._terminated(connection)
                return


class ListeningFeed:
    """A change feed on one channel, kept listening from start() until aclose(): it
    connects again by itself, with backoff, whenever the connection is lost or cannot be
    made. Whenever it begins to listen and whenever it loses its connection it calls
    `_missed()` (notifications may have been missed); each notification, `_notified`.

    `what` names the feed in its warnings, with what the process does meanwhile
    (`cannot listen for <what>: <error>`)."""

    what = "changes"

    def __init__(
        self,
        database_url: str,
        channel: str,
        *,
        name: str,
        connect_timeout: float = 5.0,
        probe_every: float = 10.0,
        retry_first: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        self._name = name
        self._listener = Listener(
            database_url,
            channel,
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

    async def start(self) -> None:
        """Begins listening, and keeps at it in the background. Returns once the first
        attempt has connected or failed (at most the connect timeout): a process that
        starts with its database up runs listening, one that cannot reach it does not
        wait for it. Idempotent."""
        if self._task is None:
            self._task = asyncio.create_task(self._keep_listening(), name=self._name)
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
                    "cannot listen for %s: %s; trying again in %.1f s", self.what, error, delay
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

    def _notified(self, payload: str) -> None:
        """One notification's payload."""

    def _missed(self) -> None:
        """Notifications may have been missed (listening began, or the connection broke)."""

    def _lost(self) -> None:
        log.warning("lost the feed of %s; reconnecting", self.what)
        self._missed()
        self._down.set()
