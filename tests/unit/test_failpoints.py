"""Fail points (adapters/failpoints.py): free when off, exact when armed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters import failpoints
from adapters.failpoints import ControlFile, Rule, parse_rules


class Killed(Exception):
    pass


def kill() -> None:
    raise Killed


def control(tmp_path: Path, text: str, chance: float = 0.5) -> ControlFile:
    path = tmp_path / "failpoints"
    path.write_text(text)
    return ControlFile(str(path), kill=kill, chance=lambda: chance)


def test_without_the_variable_a_fail_point_is_the_no_op() -> None:
    assert "PAYGATE_FAILPOINTS" not in os.environ
    assert failpoints.ARMED is False
    assert failpoints.fail_point("sql.commit.before:payment_intents") is None


def test_rules_name_a_process_a_pattern_and_when() -> None:
    rules = parse_rules("# comment\n* acquirer.* 0.25\n4242 sql.commit.after:* @3\n\n")
    assert rules == [
        Rule(None, "acquirer.*", probability=0.25),
        Rule(4242, "sql.commit.after:*", nth=3),
    ]


@pytest.mark.parametrize("line", ["* acquirer.*", "* x 1.5", "me x @1", "* x often"])
def test_a_malformed_rule_is_an_error(line: str) -> None:
    with pytest.raises(ValueError):
        parse_rules(line)


def test_the_nth_hit_of_a_matching_name_kills_and_no_other(tmp_path: Path) -> None:
    point = control(tmp_path, "* sql.commit.after:*payment_attempts* @2\n")
    point("sql.commit.after:payment_attempts+payment_intents")
    point("sql.commit.before:payment_attempts+payment_intents")  # another name
    point("acquirer.after.authorize")
    with pytest.raises(Killed):
        point("sql.commit.after:payment_attempts+payment_intents")
    point("sql.commit.after:payment_attempts+payment_intents")  # the 3rd: alive


def test_a_rule_for_another_process_does_not_fire(tmp_path: Path) -> None:
    point = control(tmp_path, f"{os.getpid() + 1} * @1\n")
    point("acquirer.before.capture")


def test_a_probability_fires_when_the_draw_is_below_it(tmp_path: Path) -> None:
    control(tmp_path, "* job.* 0.4\n", chance=0.5)("job.before:ledger.settle")
    with pytest.raises(Killed):
        control(tmp_path, "* job.* 0.6\n", chance=0.5)("job.before:ledger.settle")


def test_the_file_is_read_again_when_it_changes_and_a_missing_one_arms_nothing(
    tmp_path: Path,
) -> None:
    point = control(tmp_path, "")
    point("webhook.send.mid")
    path = tmp_path / "failpoints"
    path.write_text("* webhook.send.mid @1\n")
    os.utime(path, ns=(1, 1))  # a new modification time, whatever the clock's resolution
    with pytest.raises(Killed):
        point("webhook.send.mid")
    path.unlink()
    point("webhook.send.mid")


REPLICAS = {
    "acquirer": 10, "api-0": 11, "api-1": 12, "worker": 13, "worker-1": 14,
    "web": 15, "web-1": 16, "envoy": 17,
}  # fmt: skip


def test_on_replicas_a_run_arms_one_worker_and_never_both_twins(tmp_path: Path) -> None:
    import random

    from tests.faults.chaos import REPLICA_POINTS, Chaos, role_of

    chaos = Chaos(
        tmp_path / "control", random.Random(7), points=REPLICA_POINTS, replicated_role="worker"
    )
    workers, claims = set(), set()
    for _ in range(200):
        armed = chaos.arm(REPLICAS)
        roles = [role_of(child) for child, _, _ in armed]
        assert roles[0] == "worker" and len(armed) == 2 and len(set(roles)) == 2, armed
        for child, pattern, pid in armed:
            assert pid == REPLICAS[child]
            assert pattern in REPLICA_POINTS[str(role_of(child))]
        workers.add(armed[0][0])
        claims.add(armed[0][1])
        rules = parse_rules((tmp_path / "control").read_text())
        assert [rule.pid for rule in rules] == [pid for _, _, pid in armed]
    assert workers == {"worker", "worker-1"}
    assert {"sql.commit.after:events", "sql.commit.after:webhook_deliveries"} <= claims


def test_a_child_killed_often_is_left_alone_for_a_minute(tmp_path: Path) -> None:
    import random

    from tests.faults.chaos import KILLS_PER_MINUTE, REPLICA_POINTS, Chaos

    chaos = Chaos(
        tmp_path / "control", random.Random(7), points=REPLICA_POINTS, replicated_role="worker"
    )
    for _ in range(KILLS_PER_MINUTE):
        chaos.killed("worker")
        chaos.killed("worker-1")
    armed = chaos.arm(REPLICAS)
    assert armed and all(not child.startswith("worker") for child, _, _ in armed)
