"""One crash run, on whichever topology: arm the fail points (tests/faults/chaos.py),
let the merchants' servers trade, disarm, count the kills, wait until everything the
kills left in flight has ended, then check. test_crash_runs.py runs it on one worker and
one web process, test_replica_crash_runs.py on two of every process.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tests.e2e.gateway import Gateway
from tests.faults.chaos import Chaos
from tests.faults.traffic import shops
from tests.faults.waiting import eventually

SEED = int(os.environ.get("PAYGATE_FAULT_SEED", str(random.randrange(1 << 30))))
OFFSET = int(os.environ.get("PAYGATE_FAULT_RUN_OFFSET", "0"))
TRAFFIC_SECONDS = float(os.environ.get("PAYGATE_FAULT_TRAFFIC_SECONDS", "2"))
# Recovery asks the acquirer again about calls in flight for this long (the default is 5
# minutes): the runs wait for it.
RECOVERY_AFTER = 2
SETTLE_WITHIN = 120.0
# Seconds a child starting alone may take to become ready at the start: five Python
# processes importing everything at once on a loaded machine outlasted the launcher's 60 s.
START_BUDGET = 300.0


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

    def summary(self, runs: int) -> str:
        return (
            f"seed {SEED}, runs {OFFSET}..{OFFSET + runs - 1}: {self.runs} runs, "
            f"{sum(self.kills.values())} kills "
            f"{dict(self.kills)}, {self.checks} invariant checks passed, "
            f"{self.attempts_asked} attempt lookups at the acquirer, "
            f"flows {dict(self.flows)}, answers {dict(sorted(self.answers.items()))}\n"
            f"fail points fired ({len(self.points)} distinct): "
            f"{dict(self.points.most_common())}"
        )


@dataclass(frozen=True)
class Topology:
    children: frozenset[str]  # every child the launcher keeps up
    merchant_servers: int


# After a run: (the children killed in it) -> (checks made, violations).
Check = Callable[[set[str]], Awaitable[tuple[int, list[str]]]]


async def one_run(
    gateway: Gateway,
    chaos: Chaos,
    topology: Topology,
    run: int,
    figures: Figures,
    *,
    settled: Callable[[], Awaitable[bool]],
    stuck: Callable[[], Awaitable[list[str]]],
    check: Check,
) -> list[str]:
    rng = random.Random(SEED * 1000 + run)

    async def all_up() -> bool:
        return set(gateway.pids) >= topology.children

    assert await eventually(all_up), gateway.pids
    armed = chaos.arm(gateway.pids)
    try:
        servers = topology.merchant_servers
        tally = await shops(gateway, rng, servers=servers, seconds=TRAFFIC_SECONDS)
    finally:
        chaos.disarm()
    figures.flows.update(tally.flows)
    figures.answers.update(tally.answers)
    killed = set()
    for child, _, pid in armed:
        if gateway.pids.get(child) != pid:
            chaos.killed(child)
            figures.kills[child] += 1
            killed.add(child)
    assert await eventually(all_up), gateway.pids
    if not await eventually(settled, SETTLE_WITHIN):
        return [f"stuck after {SETTLE_WITHIN:.0f} s: {x}" for x in await stuck()]
    checks, problems = await check(killed)
    figures.runs += 1
    figures.checks += 0 if problems else checks
    return problems
