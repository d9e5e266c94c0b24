"""The PSP role's HTTP server: Orbit at `/`, Kora at `/kora` (each its own API, as two
PSPs at two hosts would be), on one loopback port."""

from __future__ import annotations

import asyncio

from aiohttp import web

from sandbox.psp.kora_simulator import KoraBooks, KoraServer
from sandbox.psp.orbit_simulator import OrbitBooks, OrbitServer

KORA_PREFIX = "/kora"


def psp_app(orbit: OrbitBooks, kora: KoraBooks) -> web.Application:
    app = OrbitServer(orbit).app()
    app.add_subapp(KORA_PREFIX, KoraServer(kora).app())
    return app


async def serve(app: web.Application, host: str, port: int, *, stop: asyncio.Event) -> None:
    """Serves `app` until `stop` is set."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await stop.wait()
    finally:
        await runner.cleanup()
