"""The worker role: scheduled batch jobs, with a gRPC health service on `listen`."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from adapters.observability import tracing
from adapters.observability.metrics import process_metrics
from adapters.sql.queue_depth import webhook_queue
from adapters.sql.webhook_due import PostgresDeliveryWakeups
from adapters.system import SystemClock
from servers.bootstrap.app import App, build_app
from servers.grpc import serve as serve_grpc
from servers.grpc.serve import serve_until_signalled
from servers.roles.worker.jobs import jobs
from servers.roles.worker.scheduler import Job, run_jobs
from servers.runtime import logging_setup, operability
from servers.runtime.settings import Settings

log = logging.getLogger("paygate.worker")

# A batch in progress finishes whatever this is: the jobs stop after the server does.
GRACE_SECONDS = 1.0


async def run(settings: Settings, listen: str) -> None:
    logging_setup.configure(settings.log_level)
    tracing.configure("worker", settings.otlp_endpoint, spans_dir=settings.spans_dir)
    app = build_app(settings, settings.database_url, process_metrics("worker"))
    # Told of due webhook deliveries: the dispatcher claims then, not every 0.1 s.
    wakeups = PostgresDeliveryWakeups(settings.database_url)
    try:
        async with operability.watching(app, settings) as readiness:
            # Health (and reflection) only: the launcher's probe and operators ask it.
            server = await serve_grpc.start(listen, [])
            readiness.attach(server.health, server.names)
            scheduled = [*jobs(app, settings), webhook_queue_job(app)]
            log.info("working", extra={"fields": {"jobs": [j.name for j in scheduled]}})
            await wakeups.start()

            async def work(stop: asyncio.Event) -> None:
                # The jobs, and the webhook deliveries (continuous, not a job:
                # core/events/delivery.py).
                await asyncio.gather(
                    run_jobs(scheduled, SystemClock(), stop, app.metrics),
                    app.webhook_dispatcher.run(
                        stop, max_in_flight=settings.webhook_max_in_flight, wakeups=wakeups
                    ),
                )

            await serve_until_signalled(server, grace=GRACE_SECONDS, work=work)
    finally:
        await wakeups.aclose()
        await app.aclose()
        tracing.shutdown()
        log.info("stopped")


# How often the worker counts the webhook queue for paygate_webhook_queue_* (one indexed
# query: the due deliveries' partial index).
QUEUE_COUNT_EVERY = 15.0


def webhook_queue_job(app: App) -> Job:
    engine = app.engine
    assert engine is not None

    async def count(now: datetime, limit: int) -> int:
        depth, lag = await webhook_queue(engine, now)
        app.metrics.record_webhook_queue(depth, lag)
        return 0  # nothing handled: the job sleeps its interval

    return Job("metrics.webhook_queue", every=QUEUE_COUNT_EVERY, run=count)
