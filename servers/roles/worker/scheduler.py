"""Runs batch jobs on intervals. Any number of workers may run the same jobs at once: every
batch use-case claims its rows with FOR UPDATE SKIP LOCKED, so workers share the work
instead of electing a leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from adapters.failpoints import fail_point
from adapters.observability.metrics import Metrics
from core.shared.ports import Clock

log = logging.getLogger("paygate.worker")

# A job failing repeatedly waits this much longer each time, up to MAX_BACKOFF seconds.
MAX_BACKOFF = 300.0


# run(now, limit) -> how many items it handled
JobRun = Callable[[datetime, int], Awaitable[int]]


@dataclass(frozen=True)
class Job:
    """`run(now, limit)` handles at most `limit` items and returns how many it handled.

    A full batch means more may be waiting, so the job runs again at once; a short one
    means it is caught up and sleeps for `every` seconds.
    """

    name: str
    every: float
    run: JobRun
    batch: int = 500


async def run_job(
    job: Job, clock: Clock, stop: asyncio.Event, metrics: Metrics | None = None
) -> None:
    failures = 0
    while not stop.is_set():
        fail_point(f"job.before:{job.name}")
        started = time.perf_counter()
        try:
            handled = await job.run(clock.now(), job.batch)
        except Exception:
            if metrics is not None:
                metrics.record_job(
                    job.name, handled=0, failed=True, seconds=time.perf_counter() - started
                )
            failures += 1
            log.exception("job failed", extra={"fields": {"job": job.name, "failures": failures}})
            delay = min(job.every * 2**failures, MAX_BACKOFF)
        else:
            if metrics is not None:
                metrics.record_job(
                    job.name, handled=handled, failed=False, seconds=time.perf_counter() - started
                )
            failures = 0
            if handled:
                fail_point(f"job.after:{job.name}")
                log.info("job ran", extra={"fields": {"job": job.name, "handled": handled}})
            if handled >= job.batch:
                continue
            delay = job.every
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)


async def run_jobs(
    jobs: list[Job], clock: Clock, stop: asyncio.Event, metrics: Metrics | None = None
) -> None:
    """Runs every job until `stop` is set; a job's batch in progress finishes first.
    With `metrics`, every batch is counted and timed (paygate_job_*)."""
    await asyncio.gather(*(run_job(job, clock, stop, metrics) for job in jobs))
