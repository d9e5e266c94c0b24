"""Crash runs: randomized traffic against the real process group while one process at a
time kills itself at a random fail point; after each run, the invariants.

    PAYGATE_FAULT_RUNS=200 .venv/bin/pytest -q -s tests/faults/test_crash_runs.py

(`make test-faults`: the long profile). A run arms one rule (tests/faults/chaos.py), lets
a few merchants' servers pay, capture, refund, cancel and pay by UPI and 3-D Secure for
PAYGATE_FAULT_TRAFFIC_SECONDS, disarms, waits for the launcher to restart what died and
for the worker's recovery to end every call in flight, then checks
tests/faults/invariants.py over everything the runs so far wrote. The seed is printed:
PAYGATE_FAULT_SEED replays a run's choices (the timing of the processes is not replayed).

A long profile also runs in chunks, each on a database of its own: with the seed of the
first chunk, PAYGATE_FAULT_RUN_OFFSET=50 PAYGATE_FAULT_RUNS=50 makes runs 50..99 of that
seed, and the chunks' figures add up. A line a run says how far a profile got.
test_replica_crash_runs.py makes the same runs on two of every process.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from adapters.sql.engine import create_engine
from tests.databases import fresh_database
from tests.e2e.conftest import log_text, running_gateway
from tests.e2e.gateway import Gateway
from tests.faults import invariants
from tests.faults.chaos import Chaos, fired
from tests.faults.crashes import (
    OFFSET,
    RECOVERY_AFTER,
    SEED,
    START_BUDGET,
    Figures,
    Topology,
    one_run,
)
from tests.webhook_receiver import Receiver

RUNS = int(os.environ.get("PAYGATE_FAULT_RUNS", "20"))
TOPOLOGY = Topology(
    children=frozenset({"acquirer", "api-0", "api-1", "worker", "web", "envoy"}),
    merchant_servers=3,
)


@pytest.fixture(scope="module")
async def faults_database(postgres_admin_url: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_admin_url, "paygate_faults") as url:
        yield url


@pytest.fixture(scope="module")
def faulty_gateway(faults_database: str, redis_url: str, control_file: Path) -> Iterator[Gateway]:
    with running_gateway(
        faults_database,
        api_processes=2,
        redis_url=redis_url,
        recovery_after_seconds=RECOVERY_AFTER,
        webhook_allowed_networks="127.0.0.1/32",
        start_budget=START_BUDGET,
    ) as running:
        yield running


async def subscribe(gateway: Gateway, url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway.rest_url, timeout=30) as http:
        made = await http.post(
            "/v1/webhook_endpoints",
            json={"url": url, "enabled_events": ["*"]},
            headers={"Authorization": f"Bearer {gateway.secret_key}", "Idempotency-Key": "hook"},
        )
    assert made.status_code == 200, made.text


async def test_crash_runs_keep_every_invariant(faulty_gateway: Gateway, control_file: Path) -> None:
    gateway = faulty_gateway
    chaos = Chaos(control_file, random.Random(SEED + OFFSET))
    figures = Figures()
    sink = Receiver()
    await subscribe(gateway, sink.url)
    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            conn = await connection.execution_options(isolation_level="AUTOCOMMIT")

            async def settled() -> bool:
                return not await invariants.stuck(conn)

            async def check(killed: set[str]) -> tuple[int, list[str]]:
                problems = await invariants.money_and_ledger(conn)
                problems += await invariants.outbox_once(conn)
                asked, at_acquirer = await invariants.acquirer_books(gateway, conn)
                figures.attempts_asked += asked
                problems += at_acquirer
                problems += await invariants.reconciled(gateway)
                return 5, problems

            for run in range(OFFSET, OFFSET + RUNS):
                problems = await one_run(
                    gateway, chaos, TOPOLOGY, run, figures,
                    settled=settled, stuck=lambda: invariants.stuck(conn), check=check,
                )  # fmt: skip
                assert not problems, f"run {run} (seed {SEED}):\n" + "\n".join(problems[:30])
                print(figures.progress(run), flush=True)
    finally:
        await engine.dispose()
        sink.close()
        figures.points.update(name for name, _ in fired(log_text(gateway.data_dir / "gateway.log")))
        print("\n" + figures.summary(RUNS))
    assert sum(figures.kills.values()) > 0, figures.summary(RUNS)
