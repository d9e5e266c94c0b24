"""Which process dies where: the control file of adapters/failpoints.py, written by the
harness while the gateway runs.

Each run arms one rule for one live process (`<pid> <pattern> @N`): that process kills
itself on the Nth hit of a matching fail point, the launcher restarts it, and the rule,
naming a pid that is gone, matches nothing any more. The patterns cover every fail point
a role passes (docs/reliability.md lists them). With two of every process
(`replicated_role`), a run arms one child of that role and one of another role, never
both twins: one worker dies in a claim while the other keeps claiming.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

# The launcher gives up on a child that dies more than 5 times in 60 s (a crash loop):
# the harness kills each child at most this often.
KILLS_PER_MINUTE = 3

POINTS: dict[str, tuple[str, ...]] = {
    "api": (
        "sql.commit.before:*",
        "sql.commit.after:*",
        "sql.commit.before:*payment_attempts*",
        "sql.commit.after:*payment_attempts*",
        "sql.commit.after:*refunds*",
        "sql.commit.after:*ledger_postings*",
        "acquirer.before.*",
        "acquirer.after.authorize",
        "acquirer.after.capture",
        "acquirer.after.void",
        "acquirer.after.refund",
    ),
    "web": (
        "sql.commit.before:*",
        "sql.commit.after:*",
        "acquirer.before.completechallenge",
        "acquirer.after.completechallenge",
    ),
    "worker": (
        "job.before:*",
        "job.after:*",
        "job.after:payments.*",
        "webhook.send.mid",
        "relay.stream.before",
        "relay.stream.after",
        "sql.commit.after:*webhook_deliveries*",
        "sql.commit.after:*ledger_postings*",
        "acquirer.after.lookup",
        "acquirer.before.*",
        "acquirer.after.*",
    ),
}

# Two workers share the outbox, the webhook deliveries and every job: a worker dies in
# its claims as well (the outbox's is a commit of `events` alone, a delivery's of
# `webhook_deliveries` alone), and the other one must take over what it held.
REPLICA_POINTS: dict[str, tuple[str, ...]] = {
    **POINTS,
    "worker": (
        *POINTS["worker"],
        "sql.commit.before:events",
        "sql.commit.after:events",
        "sql.commit.after:webhook_deliveries",
    ),
}

FIRED = re.compile(r"FAILPOINT (\S+) (\d+)")


def role_of(child: str) -> str | None:
    """api-0 -> api; the acquirer (an external system), Envoy and PostgreSQL are not ours."""
    role = child.split("-", 1)[0]
    return role if role in POINTS else None


@dataclass
class Chaos:
    control: Path
    rng: random.Random
    kills: dict[str, deque[float]] = field(default_factory=dict)
    points: dict[str, tuple[str, ...]] = field(default_factory=lambda: POINTS)
    # With replicas: at most one child of a role a run (its twin carries on), and always
    # one of this role.
    replicated_role: str | None = None

    def __post_init__(self) -> None:
        self.disarm()

    def disarm(self) -> None:
        self._write("")

    def arm(self, pids: dict[str, int], children: int = 2) -> list[tuple[str, str, int]]:
        """A rule for each of up to `children` random children that may die now:
        (child, pattern, pid) each."""
        now = time.monotonic()
        candidates = []
        for child, pid in pids.items():
            if role_of(child) is None:
                continue
            recent = self.kills.setdefault(child, deque())
            while recent and recent[0] < now - 60:
                recent.popleft()
            if len(recent) < KILLS_PER_MINUTE:
                candidates.append((child, pid))
        if self.replicated_role is None:
            chosen = self.rng.sample(sorted(candidates), min(children, len(candidates)))
        else:
            chosen = self._one_per_role(candidates, children)
        armed = [
            (child, self.rng.choice(self.points[str(role_of(child))]), pid) for child, pid in chosen
        ]
        self._write(
            "".join(f"{pid} {pattern} @{self.rng.randrange(1, 4)}\n" for _, pattern, pid in armed)
        )
        return armed

    def _one_per_role(
        self, candidates: list[tuple[str, int]], children: int
    ) -> list[tuple[str, int]]:
        by_role: dict[str, list[tuple[str, int]]] = {}
        for child, pid in sorted(candidates):
            by_role.setdefault(str(role_of(child)), []).append((child, pid))
        first = [self.replicated_role] if self.replicated_role in by_role else []
        others = sorted(set(by_role) - set(first))
        roles = first + self.rng.sample(others, min(len(others), children - len(first)))
        return [self.rng.choice(by_role[role]) for role in roles]

    def killed(self, child: str) -> None:
        self.kills.setdefault(child, deque()).append(time.monotonic())

    def _write(self, rules: str) -> None:
        # Written whole then renamed: a process never reads half a file.
        partial = self.control.with_suffix(".partial")
        partial.write_text(rules)
        os.replace(partial, self.control)


def fired(log: str) -> list[tuple[str, int]]:
    """The fail points that killed a process, from the gateway's log: (name, pid)."""
    return [(name, int(pid)) for name, pid in FIRED.findall(log)]
