"""What every role that uses the database runs beside its server: the readiness checks
(servers/runtime/readiness.py) and the metrics and probes port (servers/runtime/ops_http.py).

    async with operability.watching(app, settings) as readiness:
        server = await start(...)
        readiness.attach(server.health, server.names)
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial

from adapters.sql.readiness import code_heads, schema_problem
from servers.bootstrap.app import App
from servers.runtime import ops_http
from servers.runtime.readiness import CHECK_TIMEOUT_SECONDS, Readiness
from servers.runtime.settings import Settings


@contextlib.asynccontextmanager
async def watching(app: App, settings: Settings) -> AsyncIterator[Readiness]:
    if app.engine is None:
        raise ValueError("readiness needs the application's database engine")
    check = partial(schema_problem, app.engine, code_heads(), CHECK_TIMEOUT_SECONDS)
    readiness = Readiness(check, app.metrics)
    http = ops_http.start(
        settings.metrics_host, settings.metrics_port, app.metrics.registry, readiness
    )
    stop = asyncio.Event()
    loop = asyncio.create_task(readiness.run(stop))
    try:
        yield readiness
    finally:
        stop.set()
        await loop
        if http is not None:
            http.close()
