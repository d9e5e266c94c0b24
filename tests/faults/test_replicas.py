"""Two API processes, two workers and two web processes behind one Envoy on one database:
randomized traffic, then nothing processed twice.

    PAYGATE_REPLICA_RUNS=10 .venv/bin/pytest -q -s tests/faults/test_replicas.py

(`make test-faults`: the long profile). Each run lets a few merchants' servers pay,
capture, refund, cancel, pay by UPI and 3-D Secure and get disputed (tests/faults/
traffic.py) for PAYGATE_REPLICA_TRAFFIC_SECONDS while the two workers share the
recovery, the webhook deliveries to an endpoint of ours and the dispute feed; the first
run and every other one after it SIGKILL one worker midway (the launcher restarts it).
Then both workers are restarted together, so that both run every scheduled job at the
same moment, and the checks of tests/faults/once.py and tests/faults/invariants.py run
over everything written so far. At the end two settlement batches and two payout runs
for a day a week ahead race each other, as two workers' jobs do.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.sql.engine import create_engine
from adapters.system import RandomIds
from core.ledger.hooks import FixedClock
from core.ledger.payouts import Payouts
from core.ledger.records import midnight
from core.ledger.settlement import SettlementBatch
from servers.bootstrap.database import database
from tests.databases import fresh_database
from tests.e2e.conftest import running_gateway
from tests.e2e.gateway import Gateway
from tests.faults import invariants, once
from tests.faults.traffic import shops
from tests.faults.waiting import eventually
from tests.webhook_receiver import Receiver, subscribe

RUNS = int(os.environ.get("PAYGATE_REPLICA_RUNS", "1"))
TRAFFIC_SECONDS = float(os.environ.get("PAYGATE_REPLICA_TRAFFIC_SECONDS", "4"))
SEED = int(os.environ.get("PAYGATE_FAULT_SEED", str(random.randrange(1 << 30))))
MERCHANT_SERVERS = 4
RECOVERY_AFTER = 2
SETTLE_WITHIN = 120.0
WORKERS = ("worker", "worker-1")
CHILDREN = {"acquirer", "api-0", "api-1", *WORKERS, "web", "web-1", "envoy"}


@pytest.fixture(scope="module")
async def replicas_database(postgres_admin_url: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_admin_url, "paygate_replicas") as url:
        yield url


@pytest.fixture(scope="module")
def replicas(replicas_database: str, redis_url: str) -> Iterator[Gateway]:
    with running_gateway(
        replicas_database,
        redis_url=redis_url,
        recovery_after_seconds=RECOVERY_AFTER,
        **once.TWO_OF_EVERY_PROCESS,
    ) as running:
        yield running


async def all_children_up(gateway: Gateway) -> bool:
    return set(gateway.pids) >= CHILDREN


async def traffic(gateway: Gateway, rng: random.Random, counted: Counter[str]) -> None:
    tally = await shops(gateway, rng, servers=MERCHANT_SERVERS, seconds=TRAFFIC_SECONDS)
    counted.update({f"flow {name}": n for name, n in tally.flows.items()})


async def kill_a_worker_midway(gateway: Gateway, rng: random.Random) -> str:
    await asyncio.sleep(TRAFFIC_SECONDS * rng.uniform(0.3, 0.7))
    victim = rng.choice(WORKERS)
    os.kill(gateway.pids[victim], signal.SIGKILL)
    return victim


async def restart_workers_together(gateway: Gateway) -> None:
    """SIGTERM to both: each finishes its batch and exits; the launcher starts both again
    after the same back-off, and each runs every job at once when it starts."""
    before = {name: gateway.pids[name] for name in WORKERS}
    for pid in before.values():
        os.kill(pid, signal.SIGTERM)

    async def both_new() -> bool:
        now = gateway.pids
        return all(now.get(name) not in (None, pid) for name, pid in before.items())

    assert await eventually(both_new), gateway.pids


async def settle_twice_at_once(database_url: str, counted: Counter[str]) -> None:
    """The day's settlement and the payouts after it, by two workers at the same moment
    (each its own pool): a week ahead, so that today's captures are due."""
    day = datetime.now(UTC).date() + timedelta(days=7)
    at = midnight(day) + timedelta(hours=1)

    async def settle() -> int:
        async with database(database_url, pool_size=2) as db:
            return len(await SettlementBatch(db.uow, RandomIds()).run_settlement(day, at))

    async def pay_out() -> int:
        async with database(database_url, pool_size=2) as db:
            payouts = Payouts(db.uow, RandomIds(), FixedClock(at))
            return len(await payouts.run_automatic_payouts(at))

    counted["settlements completed"] += sum(await asyncio.gather(settle(), settle()))
    counted["payouts sent"] += sum(await asyncio.gather(pay_out(), pay_out()))


async def test_two_of_every_process_do_everything_once(replicas: Gateway) -> None:
    gateway = replicas
    rng = random.Random(SEED)
    counted: Counter[str] = Counter()  # what the runs did, summed
    state: Counter[str] = Counter()  # what the last check counted in the books
    receiver = Receiver()
    endpoint_id = subscribe(gateway.rest_url, gateway.secret_key, receiver.url)
    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            conn = await connection.execution_options(isolation_level="AUTOCOMMIT")
            settled = once.Settled(conn)
            for run in range(RUNS):
                assert await eventually(lambda: all_children_up(gateway)), gateway.pids
                _, before = receiver.snapshot()
                jobs = [traffic(gateway, rng, counted)]
                if run % 2 == 0:
                    jobs.append(kill_a_worker_midway(gateway, rng))
                done = await asyncio.gather(*jobs)
                counted.update(f"killed {victim}" for victim in done[1:])
                assert await eventually(lambda: all_children_up(gateway)), gateway.pids
                await restart_workers_together(gateway)
                ok = await eventually(settled, SETTLE_WITHIN)
                assert ok, await invariants.stuck(conn)
                # Without a kill in this run, no event comes twice that had not before.
                may_repeat = None if done[1:] else {e for e, n in before.items() if n > 1}
                problems = await once.everything(
                    gateway, conn, endpoint_id, receiver, state, may_repeat, settled
                )
                assert not problems, f"run {run} (seed {SEED}):\n" + "\n".join(problems[:30])
                counted["runs"] += 1
                counted["checks passed"] += 1
            _, before = receiver.snapshot()
            await settle_twice_at_once(gateway.database_url, counted)
            assert await eventually(settled, SETTLE_WITHIN)
            may_repeat = {e for e, n in before.items() if n > 1}
            problems = await once.everything(
                gateway, conn, endpoint_id, receiver, state, may_repeat, settled
            )
            assert not problems, f"after settlement (seed {SEED}):\n" + "\n".join(problems[:30])
            counted["checks passed"] += 1
            assert counted["settlements completed"] > 0, counted
    finally:
        await engine.dispose()
        receiver.close()
        print(f"\nseed {SEED}: {dict(sorted(counted.items()))}\n{dict(sorted(state.items()))}")
