"""The fault proxy itself (tests/faults/proxy.py), in front of an echo server that records
what reached it."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.faults.proxy import FaultProxy, Upstream
from tests.faults.waiting import eventually

# How a client sees a connection cut by an RST: reset, broken pipe, or an early EOF.
CUT = (ConnectionError, asyncio.IncompleteReadError)


@dataclass
class Echo:
    """Answers every chunk with itself; remembers what it was sent."""

    received: bytearray = field(default_factory=bytearray)
    connections: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while data := await reader.read(4096):
                self.received += data
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass  # cut by the proxy, or the test is over
        finally:
            writer.close()


@pytest.fixture
async def echo() -> AsyncIterator[tuple[Echo, Upstream]]:
    echo = Echo()
    server = await asyncio.start_server(echo.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield echo, Upstream.tcp("127.0.0.1", port)


@pytest.fixture
def proxy(echo: tuple[Echo, Upstream]) -> Iterator[FaultProxy]:
    with FaultProxy.start(echo[1], seed=7) as running:
        yield running


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_opened: list[asyncio.StreamWriter] = []


@pytest.fixture(autouse=True)
def close_connections() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


async def connect(proxy: FaultProxy) -> Connection:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    _opened.append(writer)
    return reader, writer


async def ask(conn: Connection, data: bytes) -> bytes:
    reader, writer = conn
    writer.write(data)
    await writer.drain()
    return await reader.readexactly(len(data))


async def test_it_forwards_both_ways_and_counts(proxy: FaultProxy) -> None:
    conn = await connect(proxy)
    assert await ask(conn, b"ping") == b"ping"
    assert proxy.stats["to_upstream"] == 4 and proxy.stats["to_client"] == 4
    assert proxy.address == f"127.0.0.1:{proxy.port}"


async def test_latency_with_jitter_keeps_the_order(proxy: FaultProxy) -> None:
    proxy.latency(0.01, jitter=0.02)
    reader, writer = await connect(proxy)
    sent = b"".join(f"<{i}>".encode() for i in range(40))
    for i in range(40):
        writer.write(f"<{i}>".encode())
        await writer.drain()
        await asyncio.sleep(0)
    assert await reader.readexactly(len(sent)) == sent


async def test_reset_cuts_established_and_new_connections(
    proxy: FaultProxy, echo: tuple[Echo, Upstream]
) -> None:
    conn = await connect(proxy)
    assert await ask(conn, b"a") == b"a"
    proxy.reset()
    with pytest.raises(CUT):
        await ask(conn, b"b")
    with pytest.raises(CUT):
        await ask(await connect(proxy), b"c")
    assert echo[0].connections == 1  # the new one never reached the dependency
    proxy.healthy()
    assert await ask(await connect(proxy), b"d") == b"d"


async def test_reset_of_new_connections_only_spares_the_open_ones(proxy: FaultProxy) -> None:
    conn = await connect(proxy)
    assert await ask(conn, b"a") == b"a"
    proxy.reset(established=False)
    with pytest.raises(CUT):
        await ask(await connect(proxy), b"b")
    assert await ask(conn, b"c") == b"c"


async def test_reset_of_established_connections_only_lets_new_ones_in(proxy: FaultProxy) -> None:
    conn = await connect(proxy)
    assert await ask(conn, b"a") == b"a"
    proxy.reset(new=False)
    with pytest.raises(CUT):
        await ask(conn, b"b")
    assert await ask(await connect(proxy), b"c") == b"c"


async def test_black_hole_accepts_answers_nothing_then_resets_on_healing(
    proxy: FaultProxy, echo: tuple[Echo, Upstream]
) -> None:
    established = await connect(proxy)
    assert await ask(established, b"a") == b"a"
    proxy.black_hole()
    for conn in (established, await connect(proxy)):
        conn[1].write(b"lost")
        await conn[1].drain()
    assert await eventually(lambda: proxy.stats["dropped"] >= 2)
    assert bytes(echo[0].received) == b"a"  # nothing reached the dependency
    assert proxy.stats["black_holed"] == 1
    proxy.healthy()
    # A stream with a hole in it is given up, as the peers' timers would.
    with pytest.raises(CUT):
        await established[0].readexactly(1)
    assert await ask(await connect(proxy), b"b") == b"b"


async def test_a_black_hole_for_replies_lets_requests_through(
    proxy: FaultProxy, echo: tuple[Echo, Upstream]
) -> None:
    conn = await connect(proxy)
    assert await ask(conn, b"a") == b"a"  # connected through to the dependency
    proxy.black_hole(replies_only=True)
    conn[1].write(b"charge")
    await conn[1].drain()
    assert await eventually(lambda: echo[0].received == b"acharge" and proxy.stats["dropped"])
    assert proxy.stats["to_client"] == 1
    proxy.healthy()
    with pytest.raises(CUT):
        await conn[0].readexactly(1)


async def test_a_unix_socket_upstream() -> None:
    echo = Echo()
    path = Path(tempfile.mkdtemp(prefix="paygate-proxy-")) / "echo.sock"
    server = await asyncio.start_unix_server(echo.serve, str(path))
    async with server:
        with FaultProxy.start(Upstream.unix(str(path))) as proxy:
            assert await ask(await connect(proxy), b"over unix") == b"over unix"
    path.unlink(missing_ok=True)


async def test_an_upstream_that_refuses_resets_the_client() -> None:
    with FaultProxy.start(Upstream.unix("/nonexistent/paygate.sock")) as proxy, pytest.raises(CUT):
        await ask(await connect(proxy), b"x")
