from __future__ import annotations

import asyncio
from datetime import datetime

from servers.roles.worker.scheduler import Job, run_job
from tests.fakes import FixedClock


async def test_a_full_batch_runs_again_at_once_and_a_short_one_sleeps() -> None:
    stop = asyncio.Event()
    batches = [3, 3, 1]
    seen: list[int] = []

    async def work(now: datetime, limit: int) -> int:
        seen.append(limit)
        handled = batches.pop(0) if batches else 0
        if not batches:
            stop.set()
        return handled

    await asyncio.wait_for(run_job(Job("t", every=3600, run=work, batch=3), FixedClock(), stop), 1)
    assert seen == [3, 3, 3]


async def test_a_failing_job_keeps_running() -> None:
    stop = asyncio.Event()
    calls = 0

    async def flaky(now: datetime, limit: int) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database went away")
        stop.set()
        return 0

    await asyncio.wait_for(run_job(Job("t", every=0.001, run=flaky), FixedClock(), stop), 1)
    assert calls == 2
