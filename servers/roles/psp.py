"""The PSP role: `paygate serve --role psp --listen 127.0.0.1:PORT` (servers.roles.psp.run).

Hosts the simulated JSON PSPs over HTTP on loopback: Orbit at `/` (Stripe-style,
sandbox/psp/orbit_simulator.py), Kora at `/kora` (Paystack-style,
sandbox/psp/kora_simulator.py), the wallet aggregator at `/wallet`
(sandbox/psp/wallet_simulator.py) and the net banking gateway at `/netbanking`
(sandbox/psp/netbanking_simulator.py), their books journaled under `<data_dir>/psp/`.
External systems, like the acquirer role: the gateway reaches each through its connector
(PAYGATE_ORBIT_URL, PAYGATE_KORA_URL, PAYGATE_WALLET_URL, PAYGATE_NETBANKING_URL).
SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from sandbox.psp.kora_simulator import kora_books
from sandbox.psp.netbanking_simulator import netbanking_books
from sandbox.psp.orbit_simulator import orbit_books
from sandbox.psp.server import psp_app, serve
from sandbox.psp.wallet_simulator import wallet_books
from servers.runtime import logging_setup
from servers.runtime.settings import Settings

log = logging.getLogger("paygate.psp")


async def run(settings: Settings, listen: str) -> None:
    logging_setup.configure(settings.log_level)
    host, _, port = listen.rpartition(":")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    data_dir = Path(settings.data_dir)
    expiry, late = settings.redirect_expiry, settings.redirect_late_delay
    app = psp_app(
        orbit_books(data_dir),
        kora_books(data_dir),
        wallet_books(data_dir, expiry=expiry, late_delay=late),
        netbanking_books(data_dir, expiry=expiry, late_delay=late),
    )
    psps = ["orbit", "kora", "wallet", "netbanking"]
    log.info("psp serving", extra={"fields": {"listen": listen, "psps": psps}})
    await serve(app, host or "127.0.0.1", int(port), stop=stop)
    log.info("psp stopped")
