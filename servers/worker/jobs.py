"""The worker's jobs, built from the application's use-cases.

Each payments job claims its rows with FOR UPDATE SKIP LOCKED (and leases them where it
calls an acquirer), so any number of workers run them side by side. The use-cases read
the time from the application's clock; `now` is the scheduler's, for jobs that take it.

| job | every | what |
| --- | --- | --- |
| payments.recover_stuck_attempts | 30 s | attempts in flight for 5 min: ask the acquirer again |
| refunds.recover_stuck_refunds | 30 s | refunds PENDING for 5 min: send them again |
| payments.expire_unconfirmed | 60 s | intents unconfirmed for 1 h: CANCELED, reason EXPIRED |
| payments.void_expired_authorizations | 5 min | authorized 7 days, not captured: voided |
| payments.poll_upi | 2 s | UPI collects waiting 5 s: ask the switch (its callback's fallback) |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from servers.app import App
from servers.settings import Settings
from servers.vault.maintenance import vault_jobs
from servers.worker.scheduler import Job, JobRun

# Recovery declares an attempt the acquirer never received lost (docs/payments.md), so
# this must exceed any acquirer call: far above the simulators' and connectors' timeouts.
RECOVERY_AFTER = timedelta(minutes=5)
# A UPI collect settles through the switch's callback at once; the poller is for the
# callbacks that never come, and leases what it polled for this long.
UPI_POLL_AFTER = timedelta(seconds=5)
UPI_POLL_EVERY = 2.0
# Jobs that call an acquirer per item run smaller batches, so a batch ends in seconds.
ACQUIRER_BATCH = 50


def jobs(app: App, settings: Settings) -> list[Job]:
    scheduled = [
        Job("idempotency.reap", every=60.0, run=app.idempotency.reap_expired, batch=1000),
        *payment_jobs(app),
    ]
    hosted = app.vault_access.hosted if app.vault_access else None
    if hosted is not None:  # embedded mode; a split vault role sweeps its own tokens
        scheduled += vault_jobs(hosted.vault, batch_size=settings.vault_batch_size)
    return scheduled


def payment_jobs(app: App) -> list[Job]:
    payments, refunds = app.payments, app.refunds

    def counted(found: Callable[[int], Awaitable[list[str]]]) -> JobRun:
        async def run(now: datetime, limit: int) -> int:
            return len(await found(limit))

        return run

    return [
        Job(
            "payments.recover_stuck_attempts",
            every=30.0,
            run=counted(lambda n: payments.recover_stuck_attempts(RECOVERY_AFTER, limit=n)),
            batch=ACQUIRER_BATCH,
        ),
        Job(
            "refunds.recover_stuck_refunds",
            every=30.0,
            run=counted(lambda n: refunds.recover_stuck_refunds(RECOVERY_AFTER, limit=n)),
            batch=ACQUIRER_BATCH,
        ),
        Job(
            "payments.expire_unconfirmed",
            every=60.0,
            run=counted(lambda n: payments.expire_unconfirmed(limit=n)),
            batch=500,
        ),
        Job(
            "payments.void_expired_authorizations",
            every=300.0,
            run=counted(lambda n: payments.void_expired_authorizations(limit=n)),
            batch=ACQUIRER_BATCH,
        ),
        Job(
            "payments.poll_upi",
            every=UPI_POLL_EVERY,
            run=counted(
                lambda n: payments.poll_pending_actions(
                    UPI_POLL_AFTER, payment_method_type="upi", limit=n
                )
            ),
            batch=ACQUIRER_BATCH,
        ),
    ]
