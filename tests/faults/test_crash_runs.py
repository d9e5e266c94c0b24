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
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.failpoints import ENV
from adapters.sql.engine import create_engine
from tests.databases import fresh_database
from tests.e2e.conftest import log_text, running_gateway
from tests.e2e.gateway import Gateway
from tests.faults import invariants
from tests.faults.chaos import Chaos, fired
from tests.faults.traffic import shops
from tests.faults.waiting import eventually
from tests.webhook_receiver import Receiver

RUNS = int(os.environ.get("PAYGATE_FAULT_RUNS", "20"))
OFFSET = int(os.environ.get("PAYGATE_FAULT_RUN_OFFSET", "0"))
TRAFFIC_SECONDS = float(os.environ.get("PAYGATE_FAULT_TRAFFIC_SECONDS", "2"))
SEED = int(os.environ.get("PAYGATE_FAULT_SEED", str(random.randrange(1 << 30))))
MERCHANT_SERVERS = 3
# Recovery asks the acquirer again about calls in flight for this long (the default is 5
# minutes): the runs wait for it.
RECOVERY_AFTER = 2
SETTLE_WITHIN = 120.0
# Seconds a child starting alone may take to become ready at the start: five Python
# processes importing everything at once on a loaded machine outlasted the launcher's 60 s.
START_BUDGET = 300.0
CHILDREN = {"acquirer", "api-0", "api-1", "worker", "web", "envoy"}


@dataclass
class Figures:
    runs: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    points: Counter[str] = field(default_factory=Counter)
    checks: int = 0
    attempts_asked: int = 0
    flows: Counter[str] = field(default_factory=Counter)
    answers: Counter[int] = field(default_factory=Counter)

    def progress(self, run: int) -> str:
        """One line a run, so that a long profile stopped midway still says how far it got."""
        return (
            f"run {run} done: {self.runs} runs, {sum(self.kills.values())} kills, "
            f"{self.checks} invariant checks passed"
        )

    def summary(self) -> str:
        return (
            f"seed {SEED}, runs {OFFSET}..{OFFSET + RUNS - 1}: {self.runs} runs, "
            f"{sum(self.kills.values())} kills "
            f"{dict(self.kills)}, {self.checks} invariant checks passed, "
            f"{self.attempts_asked} attempt lookups at the acquirer, "
            f"flows {dict(self.flows)}, answers {dict(sorted(self.answers.items()))}\n"
            f"fail points fired: {dict(self.points.most_common())}"
        )


@pytest.fixture(scope="module")
async def faults_database(postgres_admin_url: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_admin_url, "paygate_faults") as url:
        yield url


@pytest.fixture(scope="module")
def control_file() -> Iterator[Path]:
    """The fail points' control file; the children inherit PAYGATE_FAILPOINTS."""
    path = Path(f"/tmp/paygate-failpoints-{os.getpid()}")
    path.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV, str(path))
        yield path
    path.unlink(missing_ok=True)


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


async def all_children_up(gateway: Gateway) -> bool:
    return set(gateway.pids) >= CHILDREN


async def subscribe(gateway: Gateway, url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway.rest_url, timeout=30) as http:
        made = await http.post(
            "/v1/webhook_endpoints",
            json={"url": url, "enabled_events": ["*"]},
            headers={"Authorization": f"Bearer {gateway.secret_key}", "Idempotency-Key": "hook"},
        )
    assert made.status_code == 200, made.text


async def one_run(
    gateway: Gateway, chaos: Chaos, connection: AsyncConnection, run: int, figures: Figures
) -> list[str]:
    rng = random.Random(SEED * 1000 + run)
    assert await eventually(lambda: all_children_up(gateway)), gateway.pids
    armed = chaos.arm(gateway.pids)
    try:
        tally = await shops(gateway, rng, servers=MERCHANT_SERVERS, seconds=TRAFFIC_SECONDS)
    finally:
        chaos.disarm()
    figures.flows.update(tally.flows)
    figures.answers.update(tally.answers)
    for child, _, pid in armed:
        if gateway.pids.get(child) != pid:
            chaos.killed(child)
            figures.kills[child] += 1
    assert await eventually(lambda: all_children_up(gateway)), gateway.pids

    async def settled() -> bool:
        return not await invariants.stuck(connection)

    if not await eventually(settled, SETTLE_WITHIN):
        return [
            f"stuck after {SETTLE_WITHIN:.0f} s: {x}" for x in await invariants.stuck(connection)
        ]
    problems = await invariants.money_and_ledger(connection)
    problems += await invariants.outbox_once(connection)
    asked, at_acquirer = await invariants.acquirer_books(gateway, connection)
    figures.attempts_asked += asked
    problems += at_acquirer
    problems += await invariants.reconciled(gateway)
    figures.runs += 1
    figures.checks += 0 if problems else 5
    return problems


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
            for run in range(OFFSET, OFFSET + RUNS):
                problems = await one_run(gateway, chaos, conn, run, figures)
                assert not problems, f"run {run} (seed {SEED}):\n" + "\n".join(problems[:30])
                print(figures.progress(run), flush=True)
    finally:
        await engine.dispose()
        sink.close()
        figures.points.update(name for name, _ in fired(log_text(gateway.data_dir / "gateway.log")))
        print("\n" + figures.summary())
    assert sum(figures.kills.values()) > 0, figures.summary()
