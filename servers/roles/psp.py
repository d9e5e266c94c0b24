"""The PSP role: `paygate serve --role psp --listen 127.0.0.1:PORT` (servers.roles.psp.run).

Hosts the simulated JSON PSPs over HTTP on loopback: Orbit at `/` (Stripe-style,
sandbox/psp/orbit_simulator.py) and Kora at `/kora` (Paystack-style,
sandbox/psp/kora_simulator.py), their books journaled under `<data_dir>/psp/`. External
systems, like the acquirer role: the gateway reaches each through its connector
(PAYGATE_ORBIT_URL, PAYGATE_KORA_URL), from the cardholder-data zone. SIGTERM or SIGINT
stops it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from sandbox.psp.kora_simulator import kora_books
from sandbox.psp.orbit_simulator import orbit_books
from sandbox.psp.server import psp_app, serve
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
    app = psp_app(orbit_books(data_dir), kora_books(data_dir))
    log.info("psp serving", extra={"fields": {"listen": listen, "psps": ["orbit", "kora"]}})
    await serve(app, host or "127.0.0.1", int(port), stop=stop)
    log.info("psp stopped")
