"""The worker role: scheduled batch jobs, with a gRPC health service on `listen`."""

from __future__ import annotations

import asyncio
import logging

from adapters.system import SystemClock
from servers.bootstrap.app import build_app
from servers.grpc import serve as serve_grpc
from servers.grpc.serve import serve_until_signalled
from servers.roles.worker.jobs import jobs
from servers.roles.worker.scheduler import run_jobs
from servers.runtime import logging_setup
from servers.runtime.settings import Settings

log = logging.getLogger("paygate.worker")

# A batch in progress finishes whatever this is: the jobs stop after the server does.
GRACE_SECONDS = 1.0


async def run(settings: Settings, listen: str) -> None:
    logging_setup.configure(settings.log_level)
    app = build_app(settings, settings.database_url)
    try:
        # Health (and reflection) only: the launcher's probe and operators ask it.
        server = await serve_grpc.start(listen, [])
        scheduled = jobs(app, settings)
        log.info("working", extra={"fields": {"jobs": [j.name for j in scheduled]}})

        async def work(stop: asyncio.Event) -> None:
            # The jobs, and the webhook deliveries (continuous, not a job: core/events/delivery.py).
            await asyncio.gather(
                run_jobs(scheduled, SystemClock(), stop),
                app.webhook_dispatcher.run(stop, max_in_flight=settings.webhook_max_in_flight),
            )

        await serve_until_signalled(server, grace=GRACE_SECONDS, work=work)
    finally:
        await app.aclose()
        log.info("stopped")
