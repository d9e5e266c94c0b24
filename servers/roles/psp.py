"""The PSP role: `paygate serve --role psp --listen 127.0.0.1:PORT` (servers.roles.psp.run).

Hosts the simulated JSON PSP Orbit (sandbox/psp/orbit_simulator.py) over HTTP on
loopback, its books journaled under `<data_dir>/psp/`. An external system, like the
acquirer role: the gateway reaches it through its connector (PAYGATE_ORBIT_URL), from
the cardholder-data zone. SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from sandbox.psp.orbit_simulator import orbit_books, serve
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
    books = orbit_books(Path(settings.data_dir))
    log.info("psp serving", extra={"fields": {"listen": listen, "psp": "orbit"}})
    await serve(books, host or "127.0.0.1", int(port), stop=stop)
    log.info("psp stopped")
