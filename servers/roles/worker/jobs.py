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
| payments.poll_pending_actions | 2 s | UPI, wallet, net banking payments waiting 5 s: ask |
| ledger.settle | 5 min | settles what came due by today's cutoff (00:00 UTC), once per merchant |
| ledger.payouts | 5 min | automatic payouts after completed settlements; arrived payouts PAID |
| disputes.ingest | 30 s | disputes the card network opened: funds and fee to the dispute account |
| disputes.resolve | 5 min | disputes whose decision time came: WON or LOST, funds move |
| ledger.checkpoint | 60 s | checkpoints accounts with new postings: balance reads stay flat |
| analytics.rollup_build | 60 s | (PostgreSQL) merchants without an analytics rollup: built |
| analytics.rollup | 60 s | (PostgreSQL) closed hours changed since: into the analytics rollup |
| payments.reap_watchers | 60 s | (PostgreSQL) watched_intents rows of LISTEN connections gone |
| events.prune | 1 h | events older than 30 days go, with their deliveries |
| events.stream | 0.25 s | (REDIS_URL set) events appended to the Redis Stream paygate:events |
| mail.queue | 1 s | (PAYGATE_SMTP_HOST set) the receipts and alerts new events call for |
| mail.send | 1 s | (PAYGATE_SMTP_HOST set) due emails to the SMTP server, retried with back-off |

Beside the jobs, the worker sends webhooks continuously (core/events/delivery.py: claim
under a lease, send, record), PAYGATE_WEBHOOK_MAX_IN_FLIGHT requests at a time.

The poller is the UPI switch's callback's fallback, and learns the payer's answer on a
wallet's or bank's page or a late confirmation: one claim for the three types.

Recovery waits PAYGATE_RECOVERY_AFTER_SECONDS (5 min by default).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from adapters.sql.analytics_rollup import build_merchants, roll_up
from adapters.sql.intent_changes import reap_watchers
from adapters.sql.ledger.journal import take_checkpoints
from servers.bootstrap.app import App
from servers.roles.vault.maintenance import vault_jobs
from servers.roles.worker.scheduler import Job, JobRun
from servers.runtime.settings import Settings

# Recovery declares an attempt the acquirer never received lost (docs/payments.md), so
# this must exceed any acquirer call: far above the simulators' and connectors' timeouts.
RECOVERY_AFTER = timedelta(minutes=5)  # the default of settings.recovery_after_seconds
# A UPI collect settles through the switch's callback at once; the poller is for the
# callbacks that never come, and leases what it polled for this long.
UPI_POLL_AFTER = timedelta(seconds=5)
UPI_POLL_EVERY = 2.0
# The payment method types whose attempts wait for the payer and are polled: one claim
# for the three (a card's 3-D Secure challenge is the cardholder's, never polled).
POLLED_TYPES = ("upi", "wallet", "netbanking")
# Jobs that call an acquirer per item run smaller batches, so a batch ends in seconds.
ACQUIRER_BATCH = 50
# Balance reads sum an account's postings since its last checkpoint (docs/ledger.md): a
# checkpoint a minute keeps that tail at a minute of postings however large the books.
CHECKPOINT_EVERY = 60.0
# A closed hour is summed into the analytics rollup within a minute or so; until then
# reads take it from the raw tables (docs/dashboard.md). A batch is that many hours of
# one merchant each, one transaction; a build batch that many merchants, all their rows.
ROLLUP_EVERY = 60.0
ROLLUP_BATCH = 500
ROLLUP_BUILD_BATCH = 5
# watched_intents is reaped in one statement; the batch only keeps the scheduler from
# running it again at once.
REAP_WATCHERS_BATCH = 1_000_000


def jobs(app: App, settings: Settings) -> list[Job]:
    scheduled = [
        Job("idempotency.reap", every=60.0, run=app.idempotency.reap_expired, batch=1000),
        *payment_jobs(app, timedelta(seconds=settings.recovery_after_seconds)),
        *ledger_jobs(app),
        *analytics_jobs(app),
        *watch_jobs(app),
        *event_jobs(app),
        *mail_jobs(app),
    ]
    hosted = app.vault_access.hosted if app.vault_access else None
    if hosted is not None:  # embedded mode; a split vault role sweeps its own tokens
        scheduled += vault_jobs(hosted.vault, batch_size=settings.vault_batch_size)
    return scheduled


def payment_jobs(app: App, recovery_after: timedelta = RECOVERY_AFTER) -> list[Job]:
    payments, refunds = app.payments, app.refunds

    def counted(found: Callable[[int], Awaitable[list[str]]]) -> JobRun:
        async def run(now: datetime, limit: int) -> int:
            return len(await found(limit))

        return run

    return [
        Job(
            "payments.recover_stuck_attempts",
            every=min(30.0, recovery_after.total_seconds()),
            run=counted(lambda n: payments.recover_stuck_attempts(recovery_after, limit=n)),
            batch=ACQUIRER_BATCH,
        ),
        Job(
            "refunds.recover_stuck_refunds",
            every=min(30.0, recovery_after.total_seconds()),
            run=counted(lambda n: refunds.recover_stuck_refunds(recovery_after, limit=n)),
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
            "payments.poll_pending_actions",
            every=UPI_POLL_EVERY,
            run=counted(
                lambda n: payments.poll_pending_actions(
                    UPI_POLL_AFTER, payment_method_types=POLLED_TYPES, limit=n
                )
            ),
            batch=ACQUIRER_BATCH,
        ),
    ]


def analytics_jobs(app: App) -> list[Job]:
    """The hourly rollup is PostgreSQL's own (the fakes read the raw rows only)."""
    engine = app.engine
    if engine is None:
        return []

    async def build(now: datetime, limit: int) -> int:
        return await build_merchants(engine, limit=limit)

    async def rollup(now: datetime, limit: int) -> int:
        return await roll_up(engine, now=now, limit=limit)

    return [
        Job("analytics.rollup_build", every=ROLLUP_EVERY, run=build, batch=ROLLUP_BUILD_BATCH),
        Job("analytics.rollup", every=ROLLUP_EVERY, run=rollup, batch=ROLLUP_BATCH),
    ]


def watch_jobs(app: App) -> list[Job]:
    """watched_intents is PostgreSQL's own (0021_watched_intents): a row whose LISTEN
    connection is gone only costs notifications nobody reads, so a minute is plenty."""
    engine = app.engine
    if engine is None:
        return []

    async def reap(now: datetime, limit: int) -> int:
        return await reap_watchers(engine)

    return [Job("payments.reap_watchers", every=60.0, run=reap, batch=REAP_WATCHERS_BATCH)]


def event_jobs(app: App) -> list[Job]:
    maintenance = app.event_maintenance

    async def prune(now: datetime, limit: int) -> int:
        return await maintenance.prune(limit=limit)

    async def stream(now: datetime, limit: int) -> int:
        return await maintenance.relay_to_stream(limit=limit)

    found = [Job("events.prune", every=3600.0, run=prune, batch=1000)]
    if maintenance.stream is not None:
        found.append(Job("events.stream", every=0.25, run=stream, batch=500))
    return found


def mail_jobs(app: App) -> list[Job]:
    """Receipts and alerts, only when a mail server is configured: without one, events are
    left unread and the queue skips anything older than a day once mail is turned on."""
    notifications = app.notifications
    if notifications.mailer is None:
        return []

    async def queue(now: datetime, limit: int) -> int:
        return await notifications.queue(limit=limit)

    async def send(now: datetime, limit: int) -> int:
        return await notifications.send_due(limit=limit)

    return [
        Job("mail.queue", every=1.0, run=queue, batch=200),
        Job("mail.send", every=1.0, run=send, batch=20),
    ]


def ledger_jobs(app: App) -> list[Job]:
    """The daily money movements, run often: each is idempotent and claims with SKIP
    LOCKED, so running it again before the day turns only finds nothing to do."""
    cursor = 0  # the dispute feed's position; ingesting again is harmless after a restart

    async def settle(now: datetime, limit: int) -> int:
        return len(await app.settlement_batch.run_settlement(now.date(), now))

    async def payouts(now: datetime, limit: int) -> int:
        return len(await app.payouts.run_automatic_payouts(now))

    async def ingest(now: datetime, limit: int) -> int:
        nonlocal cursor
        result = await app.disputes.ingest(app.dispute_feed, since=cursor)
        cursor = result.cursor
        return len(result.opened)

    async def resolve(now: datetime, limit: int) -> int:
        return len(await app.disputes.resolve_due_disputes(now))

    # The batch is the count that makes a job run again at once: these are bounded by
    # the day's work, not by a limit, so they never ask to.
    unbounded = 1_000_000
    scheduled = [
        Job("ledger.settle", every=300.0, run=settle, batch=unbounded),
        Job("ledger.payouts", every=300.0, run=payouts, batch=unbounded),
        Job("disputes.ingest", every=30.0, run=ingest, batch=unbounded),
        Job("disputes.resolve", every=300.0, run=resolve, batch=unbounded),
    ]
    engine = app.engine
    if engine is not None:  # PostgreSQL: the checkpoints are its own query

        async def checkpoint(now: datetime, limit: int) -> int:
            async with engine.connect() as connection:
                taken = await take_checkpoints(connection)
                await connection.commit()
            return taken

        scheduled.append(
            Job("ledger.checkpoint", every=CHECKPOINT_EVERY, run=checkpoint, batch=unbounded)
        )
    return scheduled
