"""The PSP role's HTTP server: Orbit at `/`, Kora at `/kora`, the wallet aggregator at
`/wallet` and the net banking gateway at `/netbanking` (each its own API, as PSPs at
different hosts would be), on one loopback port."""

from __future__ import annotations

import asyncio

from aiohttp import web

from sandbox.psp.kora_simulator import KoraBooks, KoraServer
from sandbox.psp.netbanking_simulator import NetBankingBooks, NetBankingServer
from sandbox.psp.orbit_simulator import OrbitBooks, OrbitServer
from sandbox.psp.wallet_simulator import WalletBooks, WalletServer

KORA_PREFIX = "/kora"
WALLET_PREFIX = "/wallet"
NETBANKING_PREFIX = "/netbanking"


def psp_app(
    orbit: OrbitBooks,
    kora: KoraBooks,
    wallet: WalletBooks | None = None,
    netbanking: NetBankingBooks | None = None,
) -> web.Application:
    app = OrbitServer(orbit).app()
    app.add_subapp(KORA_PREFIX, KoraServer(kora).app())
    if wallet is not None:
        app.add_subapp(WALLET_PREFIX, WalletServer(wallet).app())
    if netbanking is not None:
        app.add_subapp(NETBANKING_PREFIX, NetBankingServer(netbanking).app())
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
