"""Crash runs on two of every process: two API processes, two workers and two web
processes behind one Envoy on one database, with the fail points armed.

    PAYGATE_FAULT_REPLICA_RUNS=30 .venv/bin/pytest -q -s tests/faults/test_replica_crash_runs.py

Each run arms one worker and one API or web process (never both twins: tests/faults/
chaos.py), at a random fail point of its role, the workers' claims included (the outbox's
and a webhook delivery's commits), and lets a few merchants' servers trade for
PAYGATE_FAULT_TRAFFIC_SECONDS; the twin of a process that killed itself keeps claiming
and serving while the launcher restarts it. After each run: the crash runs' invariants
(tests/faults/invariants.py) and nothing processed twice (tests/faults/once.py: counted
in the acquirer's books, the ledger, the outbox, the webhook deliveries a receiver of
ours counts and the jobs' rows). PAYGATE_FAULT_SEED and PAYGATE_FAULT_RUN_OFFSET work as
in test_crash_runs.py; `make test` makes a few runs, `make test-faults` the long profile.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from adapters.sql.engine import create_engine
from tests.databases import fresh_database
from tests.e2e.conftest import log_text, running_gateway
from tests.e2e.gateway import Gateway
from tests.faults import invariants, once
from tests.faults.chaos import REPLICA_POINTS, Chaos, fired
from tests.faults.crashes import (
    OFFSET,
    RECOVERY_AFTER,
    SEED,
    START_BUDGET,
    Figures,
    Topology,
    one_run,
)
from tests.webhook_receiver import Receiver, subscribe

RUNS = int(os.environ.get("PAYGATE_FAULT_REPLICA_RUNS", "3"))
WORKERS = frozenset({"worker", "worker-1"})
TOPOLOGY = Topology(
    children=frozenset({"acquirer", "api-0", "api-1", *WORKERS, "web", "web-1", "envoy"}),
    merchant_servers=4,
)


@pytest.fixture(scope="module")
async def replica_faults_database(postgres_admin_url: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_admin_url, "paygate_replica_faults") as url:
        yield url


@pytest.fixture(scope="module")
def faulty_replicas(
    replica_faults_database: str, redis_url: str, control_file: Path
) -> Iterator[Gateway]:
    with running_gateway(
        replica_faults_database,
        redis_url=redis_url,
        recovery_after_seconds=RECOVERY_AFTER,
        start_budget=START_BUDGET,
        **once.TWO_OF_EVERY_PROCESS,
    ) as running:
        yield running


async def test_crash_runs_on_two_of_every_process_do_everything_once(
    faulty_replicas: Gateway, control_file: Path
) -> None:
    gateway = faulty_replicas
    chaos = Chaos(
        control_file,
        random.Random(SEED + OFFSET),
        points=REPLICA_POINTS,
        replicated_role="worker",
    )
    figures = Figures()
    state: Counter[str] = Counter()  # what the last check counted in the books
    receiver = Receiver()
    endpoint_id = subscribe(gateway.rest_url, gateway.secret_key, receiver.url)
    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            conn = await connection.execution_options(isolation_level="AUTOCOMMIT")
            settled = once.Settled(conn)
            for run in range(OFFSET, OFFSET + RUNS):
                _, before = receiver.snapshot()

                async def check(
                    killed: set[str], before: Counter[str] = before
                ) -> tuple[int, list[str]]:
                    # A delivery comes again only from a worker that died holding it; in
                    # a run no worker died in, no event comes twice that had not before.
                    repeated = {event for event, n in before.items() if n > 1}
                    may_repeat = None if killed & WORKERS else repeated
                    problems = await once.everything(
                        gateway, conn, endpoint_id, receiver, state, may_repeat, settled
                    )
                    figures.attempts_asked += state["attempt lookups"]
                    return once.CHECKS, problems

                problems = await one_run(
                    gateway, chaos, TOPOLOGY, run, figures,
                    settled=settled,
                    stuck=lambda: invariants.stuck(conn),
                    check=check,
                )  # fmt: skip
                assert not problems, f"run {run} (seed {SEED}):\n" + "\n".join(problems[:30])
                print(figures.progress(run), flush=True)
    finally:
        await engine.dispose()
        receiver.close()
        figures.points.update(name for name, _ in fired(log_text(gateway.data_dir / "gateway.log")))
        print(f"\n{figures.summary(RUNS)}\nin the books: {dict(sorted(state.items()))}")
    assert sum(figures.kills.values()) > 0, figures.summary(RUNS)
