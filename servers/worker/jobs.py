"""The worker's jobs, built from the application's use-cases."""

from __future__ import annotations

from servers.app import App
from servers.settings import Settings
from servers.vault.maintenance import vault_jobs
from servers.worker.scheduler import Job


def jobs(app: App, settings: Settings) -> list[Job]:
    scheduled = [
        Job("idempotency.reap", every=60.0, run=app.idempotency.reap_expired, batch=1000),
    ]
    hosted = app.vault_access.hosted if app.vault_access else None
    if hosted is not None:  # embedded mode; a split vault role sweeps its own tokens
        scheduled += vault_jobs(hosted.vault, batch_size=settings.vault_batch_size)
    return scheduled
