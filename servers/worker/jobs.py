"""The worker's jobs, built from the application's use-cases."""

from __future__ import annotations

from servers.app import App
from servers.worker.scheduler import Job


def jobs(app: App) -> list[Job]:
    return [
        Job("idempotency.reap", every=60.0, run=app.idempotency.reap_expired, batch=1000),
    ]
