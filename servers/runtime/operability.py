"""What every role runs beside its server: the readiness checks
(servers/runtime/readiness.py) and the metrics and probes port (servers/runtime/ops_http.py).
A role that uses the database is ready while its schema check passes; a stateless one
(`watching_stateless`) while its event loop turns.

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

from adapters.observability.metrics import Metrics
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
    async with _serving(Readiness(check, app.metrics), app.metrics, settings) as readiness:
        yield readiness


@contextlib.asynccontextmanager
async def watching_stateless(metrics: Metrics, settings: Settings) -> AsyncIterator[Readiness]:
    """The same port for a role that holds no database and no state (stripe): ready while
    its event loop turns. It has nothing of its own to wait out; an API outage is answered
    per request, in the caller's wire format, rather than by leaving the rotation."""
    async with _serving(Readiness(_nothing_to_wait_for, metrics), metrics, settings) as readiness:
        yield readiness


async def _nothing_to_wait_for() -> str:
    return ""


@contextlib.asynccontextmanager
async def _serving(
    readiness: Readiness, metrics: Metrics, settings: Settings
) -> AsyncIterator[Readiness]:
    http = ops_http.start(settings.metrics_host, settings.metrics_port, metrics.registry, readiness)
    stop = asyncio.Event()
    loop = asyncio.create_task(readiness.run(stop))
    try:
        yield readiness
    finally:
        stop.set()
        await loop
        if http is not None:
            http.close()
