"""Named crash points for fault-injection tests: free when off, SIGKILL when armed.

A fail point is a line such as `fail_point("acquirer.after.authorize")` at an adapter
boundary: before and after each commit, each acquirer call, mid-delivery of a webhook,
around the event relay and every worker job (docs/reliability.md lists them). Production
never sets PAYGATE_FAILPOINTS, and then `fail_point` is a function that returns at once:
the variable is read once, when this module is imported.

PAYGATE_FAILPOINTS is the path of a control file that the test harness rewrites while
the processes run; each line is a rule

    <pid or *>  <name pattern (fnmatch)>  <probability 0..1 | @N (the Nth hit)>

e.g. `4242 sql.commit.after:*payment_attempts* @1`, or `* acquirer.* 0.01`. A rule that
matches kills its own process with SIGKILL, as a power cut or the OOM killer would: no
finally block, no flush, no goodbye. Just before, one line goes to stderr (`FAILPOINT
<name> <pid>`) so that the harness can count the kills it caused. The file is read
again when its modification time changes; a missing file arms nothing.
"""

from __future__ import annotations

import fnmatch
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

ENV = "PAYGATE_FAILPOINTS"


@dataclass(frozen=True)
class Rule:
    pid: int | None  # None: every process
    pattern: str
    probability: float = 0.0
    nth: int = 0  # > 0: fire on exactly this hit of a matching name in this process

    def matches(self, name: str, pid: int) -> bool:
        return (self.pid is None or self.pid == pid) and fnmatch.fnmatchcase(name, self.pattern)


def parse_rules(text: str) -> list[Rule]:
    """The rules of a control file; a malformed line is an error, never silently ignored."""
    rules = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3:
            raise ValueError(f"{ENV} line {number}: expected '<pid|*> <pattern> <p|@N>'")
        who, pattern, when = parts
        pid = None if who == "*" else int(who)
        if when.startswith("@"):
            rules.append(Rule(pid, pattern, nth=int(when[1:])))
        else:
            probability = float(when)
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"{ENV} line {number}: probability {probability} not in 0..1")
            rules.append(Rule(pid, pattern, probability=probability))
    return rules


class ControlFile:
    """The armed side: rules from the control file, hit counts per rule and name."""

    def __init__(
        self,
        path: str,
        *,
        kill: Callable[[], None] | None = None,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self.path = path
        self._kill = kill or (lambda: os.kill(os.getpid(), signal.SIGKILL))
        self._chance = chance
        self._mtime: float | None = None
        self._rules: list[Rule] = []
        self._hits: Counter[tuple[int, str]] = Counter()

    def _load(self) -> list[Rule]:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            self._mtime, self._rules = None, []
            return self._rules
        if mtime != self._mtime:
            with open(self.path, encoding="utf-8") as file:
                self._rules = parse_rules(file.read())
            self._mtime = mtime
            self._hits.clear()
        return self._rules

    def __call__(self, name: str) -> None:
        pid = os.getpid()
        for index, rule in enumerate(self._load()):
            if not rule.matches(name, pid):
                continue
            if rule.nth:
                self._hits[index, name] += 1
                fire = self._hits[index, name] == rule.nth
            else:
                fire = self._chance() < rule.probability
            if fire:
                sys.stderr.write(f"FAILPOINT {name} {pid}\n")
                sys.stderr.flush()
                self._kill()
                return


def _off(name: str) -> None:
    """No fail point is armed in this process."""


fail_point: Callable[[str], None] = ControlFile(os.environ[ENV]) if os.environ.get(ENV) else _off
# For adapters that would do extra work only to name a point (a commit's phase).
ARMED = fail_point is not _off
