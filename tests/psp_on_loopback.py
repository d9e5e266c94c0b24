"""The PSP role's server (Orbit at `/`, Kora at `/kora`) over given books on a free
loopback port, and a connector to each: for the tests that drive a JSON PSP over its own
wire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from adapters.acquirers.kora_client import KoraConnector
from adapters.acquirers.orbit_client import OrbitConnector
from sandbox.psp.kora_simulator import KoraBooks
from sandbox.psp.orbit_simulator import OrbitBooks
from sandbox.psp.server import KORA_PREFIX, psp_app


@asynccontextmanager
async def psp_on_loopback(
    orbit: OrbitBooks, kora: KoraBooks
) -> AsyncIterator[tuple[OrbitConnector, KoraConnector]]:
    runner = web.AppRunner(psp_app(orbit, kora), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()  # listening once started
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        connectors = (
            OrbitConnector(base, timeout_seconds=5),
            KoraConnector(base + KORA_PREFIX, timeout_seconds=5),
        )
        try:
            yield connectors
        finally:
            for connector in connectors:
                await connector.aclose()
    finally:
        await runner.cleanup()
