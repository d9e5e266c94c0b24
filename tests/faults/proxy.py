"""A TCP fault proxy between paygate and one dependency (PostgreSQL, Redis, the acquirer
role, the PSP role, the vault role), switched at run time:

    proxy = FaultProxy.start(Upstream.tcp("127.0.0.1", 5432))   # or Upstream.unix(path)
    url = f"postgresql+asyncpg://postgres@{proxy.address}/db"   # give paygate this
    proxy.latency(0.05, jitter=0.02)    # every chunk, both ways, 50-70 ms late, in order
    proxy.reset()                       # RST every connection, and every new one
    proxy.reset(established=False)      # only new connections (the old ones go on)
    proxy.black_hole()                  # accept, never answer: data both ways is dropped
    proxy.black_hole(replies_only=True) # requests reach the dependency, answers are lost
    proxy.healthy()
    proxy.stop()

It listens on loopback only and runs its own event loop on a thread, so that a test whose
own loop is blocked (starting a gateway, a sync client) never stalls the dependency.

A connection that lost data to a black hole is reset when the proxy heals: TCP never
delivers a stream with a hole in it, and a real partition long enough to lose requests
ends with the peers' timers giving the connection up. The switch methods return once
the new mode applies to every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

T = TypeVar("T")
CHUNK = 65536


class Mode(Enum):
    HEALTHY = "healthy"
    LATENCY = "latency"
    RESET = "reset"
    BLACK_HOLE = "black_hole"


@dataclass(frozen=True)
class Faults:
    mode: Mode = Mode.HEALTHY
    delay: float = 0.0  # LATENCY: fixed seconds per chunk ...
    jitter: float = 0.0  # ... plus uniform(0, jitter)
    reset_new: bool = True  # RESET: RST a connection as soon as it is accepted
    reset_established: bool = True  # RESET: RST the connections open at the switch
    replies_only: bool = False  # BLACK_HOLE: drop only what the dependency sends back


@dataclass(frozen=True)
class Upstream:
    """Where the dependency listens: host and port, or a Unix socket path (the embedded
    PostgreSQL and Redis listen on one)."""

    host: str = ""
    port: int = 0
    path: str = ""

    @classmethod
    def tcp(cls, host: str, port: int) -> Upstream:
        return cls(host=host, port=port)

    @classmethod
    def unix(cls, path: str) -> Upstream:
        return cls(path=path)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.path:
            return await asyncio.open_unix_connection(self.path, limit=CHUNK)
        return await asyncio.open_connection(self.host, self.port, limit=CHUNK)


def _rst(writer: asyncio.StreamWriter | None) -> None:
    """Close with a TCP RST (SO_LINGER 0), not a FIN: the peer sees 'connection reset'."""
    if writer is None or writer.transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Link:
    """One accepted connection and, unless it was black-holed from the start, its
    connection to the dependency."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    lost_data: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def reset(self) -> None:
        _rst(self.client)
        _rst(self.upstream)
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()


class FaultProxy:
    def __init__(self, upstream: Upstream, *, seed: int | None = None) -> None:
        self.upstream = upstream
        self.faults = Faults()
        # accepted, reset, black_holed (connections); to_upstream, to_client (bytes);
        # dropped (chunks).
        self.stats: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._links: set[_Link] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    @classmethod
    def start(cls, upstream: Upstream, *, seed: int | None = None) -> FaultProxy:
        proxy = cls(upstream, seed=seed)
        proxy._thread.start()
        proxy._run(proxy._listen)
        return proxy

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # --- switches (from any thread) --------------------------------------------------------

    def healthy(self) -> None:
        self._switch(Faults())

    def latency(self, delay: float, *, jitter: float = 0.0) -> None:
        self._switch(Faults(Mode.LATENCY, delay=delay, jitter=jitter))

    def reset(self, *, new: bool = True, established: bool = True) -> None:
        self._switch(Faults(Mode.RESET, reset_new=new, reset_established=established))

    def black_hole(self, *, replies_only: bool = False) -> None:
        self._switch(Faults(Mode.BLACK_HOLE, replies_only=replies_only))

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._run(self._close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the loop's side -------------------------------------------------------------------

    def _run(self, step: Callable[[], Awaitable[T]]) -> T:
        async def wrapped() -> T:
            return await step()

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(30)

    def _switch(self, faults: Faults) -> None:
        async def apply() -> None:
            self.faults = faults
            for link in list(self._links):
                if (faults.mode is Mode.RESET and faults.reset_established) or (
                    link.lost_data and faults.mode in (Mode.HEALTHY, Mode.LATENCY)
                ):
                    self._drop(link)

        self._run(apply)

    async def _listen(self) -> None:
        # Loopback only, whatever the dependency's address.
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, limit=CHUNK)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            self._drop(link)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def _drop(self, link: _Link) -> None:
        self.stats["reset"] += 1
        link.reset()
        self._links.discard(link)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Cancelled only when the proxy stops: the connection simply ends (asyncio would
        # log a cancelled connection handler as an error).
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            pass
        finally:
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats["accepted"] += 1
        link = _Link(client=writer)
        faults = self.faults
        if faults.mode is Mode.RESET and faults.reset_new:
            self._drop(link)
            return
        self._links.add(link)
        if faults.mode is Mode.BLACK_HOLE:
            # Accepted and never answered; nothing reaches the dependency.
            self.stats["black_holed"] += 1
            link.lost_data = True
            await self._swallow(reader, link)
            return
        try:
            up_reader, up_writer = await self.upstream.connect()
        except OSError:
            self._drop(link)
            return
        link.upstream = up_writer
        link.tasks = [
            asyncio.ensure_future(self._pipe(reader, up_writer, link, "to_upstream")),
            asyncio.ensure_future(self._pipe(up_reader, writer, link, "to_client")),
        ]
        try:
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            self._links.discard(link)
            up_writer.transport.abort()

    async def _swallow(self, reader: asyncio.StreamReader, link: _Link) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while await reader.read(CHUNK):
                self.stats["dropped"] += 1
        self._links.discard(link)

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        link: _Link,
        direction: str,
    ) -> None:
        """Forward one direction; late chunks keep their order (each is due no earlier
        than the one before it)."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.ensure_future(self._send(queue, sink, direction))
        due = 0.0
        try:
            while True:
                data = await source.read(CHUNK)
                faults = self.faults
                if (
                    faults.mode is Mode.BLACK_HOLE
                    and data
                    and (direction == "to_client" or not faults.replies_only)
                ):
                    link.lost_data = True
                    self.stats["dropped"] += 1
                    continue
                delay = 0.0
                if faults.mode is Mode.LATENCY:
                    delay = faults.delay + self._rng.uniform(0, faults.jitter)
                due = max(due, self._loop.time() + delay)
                queue.put_nowait((due, data))
                if not data:
                    break
            await sender
        except (OSError, asyncio.IncompleteReadError):
            self._drop(link)
        finally:
            sender.cancel()

    async def _send(
        self, queue: asyncio.Queue[tuple[float, bytes]], sink: asyncio.StreamWriter, direction: str
    ) -> None:
        while True:
            due, data = await queue.get()
            wait = due - self._loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:  # the source closed: pass the FIN on
                with contextlib.suppress(OSError):
                    if sink.can_write_eof():
                        sink.write_eof()
                return
            self.stats[direction] += len(data)
            sink.write(data)
            await sink.drain()
