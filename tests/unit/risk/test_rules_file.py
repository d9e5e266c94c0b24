"""The rules file: the default one loads; a file with a mistake is refused with a message
naming the file and the line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.risk.rules_file import RulesFileError, load_rules, parse_rules
from core.risk.model import CounterKey, Thresholds
from core.risk.rules import AmountOver, BinList, Velocity

GOOD = """\
version: 1
review_threshold: 40
block_threshold: 90
rules:
  - name: card_velocity
    kind: velocity
    key: card
    window: 1m
    max: 5
    score: 100
  - name: large
    kind: amount_over
    amounts: {usd: 50000, JPY: 100000}
    score: 50
  - name: bins
    kind: bin_list
    bins: [411111, "5555"]
    score: 80
"""


def test_a_good_file_gives_its_rules() -> None:
    rules = parse_rules(GOOD, "rules.yaml")
    assert rules.version == 1
    assert rules.thresholds == Thresholds(review=40, block=90)
    velocity, amounts, bins = rules.rules
    assert velocity == Velocity(
        "card_velocity", 100, key=CounterKey.CARD, window=timedelta(minutes=1), max=5
    )
    assert amounts == AmountOver("large", 50, amounts={"USD": 50000, "JPY": 100000})
    assert bins == BinList("bins", 80, bins=frozenset({"411111", "5555"}))


def test_the_default_rules_block_the_sixth_card_payment_in_a_minute() -> None:
    rules = load_rules()
    assert rules.version == 1
    assert rules.thresholds == Thresholds(review=50, block=80)
    [card_velocity] = [r for r in rules.rules if r.name == "card_velocity"]
    assert card_velocity == Velocity(
        "card_velocity", 100, key=CounterKey.CARD, window=timedelta(minutes=1), max=5
    )
    assert {r.kind for r in rules.rules} == {
        "velocity", "amount_over", "country_mismatch", "email_domain", "funding",
        "first_time_card",
    }  # fmt: skip


def broken(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


MISTAKES = [
    (broken("version: 1", "version: 2"), 1, "version 2 is not supported"),
    (broken("version: 1\n", ""), 1, "lacks version"),
    (broken("block_threshold: 90", "block_threshold: 30"), 2, "exceeds block_threshold"),
    (broken("block_threshold: 90", "block_threshold: 101"), 3, "between 1 and 100"),
    (broken("rules:", "rulez:"), 4, "unknown key 'rulez'"),
    (broken("    kind: velocity", "    kind: velocityy"), 6, "unknown rule kind 'velocityy'"),
    (broken("    key: card", "    key: cards"), 7, "key must be one of"),
    (broken("    window: 1m", "    window: 1 minute"), 8, "must be a duration"),
    (broken("    max: 5", "    max: five"), 9, "max must be a whole number"),
    (broken("    max: 5", "    maximum: 5"), 9, "unknown key 'maximum'"),
    (broken("    score: 100", "    score: 150"), 10, "score must be between 0 and 100"),
    (broken("{usd: 50000", "{xyz: 50000"), 13, "'XYZ' is not a supported ISO 4217"),
    (broken("{usd: 50000", "{usd: -5"), 13, "amounts.USD must be between"),
    (broken('"5555"', '"55x5"'), 17, "'55x5' is not a BIN"),
    (broken("  - name: bins", "  - name: large"), 15, "a second rule is named 'large'"),
    (broken("  - name: bins", "  - name: Bins"), 15, "lower_snake_case"),
    (broken("    score: 50\n", ""), 11, "lacks score"),
    (broken("    amounts: {", "    amounts: ["), 13, "not valid YAML"),
    (broken("version: 1\n", "version: 1\nversion: 1\n"), 2, "'version' is given twice"),
    ("", 1, "the file is empty"),
    ("- 1\n", 1, "the file must be a mapping"),
]


@pytest.mark.parametrize(("text", "line", "message"), MISTAKES)
def test_a_mistake_is_refused_naming_its_line(text: str, line: int, message: str) -> None:
    with pytest.raises(RulesFileError) as raised:
        parse_rules(text, "rules.yaml")
    assert str(raised.value).startswith(f"rules.yaml: line {line}: ")
    assert message in str(raised.value)


def test_a_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match=r"missing\.yaml: cannot be read"):
        load_rules(tmp_path / "missing.yaml")


def test_paygate_refuses_to_start_with_a_broken_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent(broken("    window: 1m", "    window: soon")))
    result = subprocess.run(
        [sys.executable, "-m", "servers.cli", "serve", "--role", "api"],
        env={"PAYGATE_RISK_RULES_FILE": str(rules), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"paygate: risk rules: {rules}: line 8: window must be a duration" in result.stderr
    assert "Traceback" not in result.stderr
