"""The risk rules file: versioned YAML, read once at start and refused with a message that
names the file and the line of the first mistake (docs/risk.md has the format).

PyYAML composes the file into nodes that remember where they were written; every check
below reads a node, so every error can say where. Unknown keys are mistakes too: a typo
in a rule must not quietly leave the rule without its limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core.risk.engine import RuleSet
from core.risk.model import MAX_SCORE, CounterKey, Thresholds
from core.risk.rules import (
    AmountOver,
    BinList,
    CountryMismatch,
    EmailDomain,
    FirstTimeCard,
    Funding,
    Rule,
    Velocity,
)
from core.shared.money import CURRENCY_EXPONENTS, MAX_AMOUNT

SUPPORTED_VERSIONS = frozenset({1})
DEFAULT_RULES = "default_rules.yaml"  # in core/risk, shipped with the package
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DURATION = re.compile(r"^([1-9][0-9]{0,6})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}
_FUNDING = frozenset({"credit", "debit", "prepaid", "unknown"})
T = TypeVar("T")


class RulesFileError(ValueError):
    """A rules file that cannot be used; the message names the file and the line."""


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules file at `path`, or the default one shipped with the package."""
    if path is None:
        source = resources.files("core.risk").joinpath(DEFAULT_RULES)
        return parse_rules(source.read_text(encoding="utf-8"), DEFAULT_RULES)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RulesFileError(f"{path}: cannot be read ({error})") from None
    return parse_rules(text, str(path))


def parse_rules(text: str, where: str = "<rules>") -> RuleSet:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise RulesFileError(f"{where}:{line}: not valid YAML: {error.problem}") from None
    if root is None:
        raise RulesFileError(f"{where}: line 1: the file is empty")
    return _Reader(where).rule_set(root)


class _Reader:
    def __init__(self, where: str) -> None:
        self._where = where

    def fail(self, node: Node, message: str) -> RulesFileError:
        return RulesFileError(f"{self._where}: line {node.start_mark.line + 1}: {message}")

    # --- the document ------------------------------------------------------------------

    def rule_set(self, root: Node) -> RuleSet:
        top = self.mapping(root, "the file", required={"version", "rules"},
                           optional={"review_threshold", "block_threshold"})  # fmt: skip
        version = self.integer(top["version"], "version", 1, 10_000)
        if version not in SUPPORTED_VERSIONS:
            raise self.fail(top["version"], f"version {version} is not supported (use 1)")
        review = self.score(top, "review_threshold", Thresholds().review, minimum=1)
        block = self.score(top, "block_threshold", Thresholds().block, minimum=1)
        if review > block:
            raise self.fail(
                top.get("review_threshold", root), "review_threshold exceeds block_threshold"
            )
        rules_node = top["rules"]
        if not isinstance(rules_node, SequenceNode):
            raise self.fail(rules_node, "rules must be a list")
        rules: list[Rule] = []
        names: set[str] = set()
        for node in rules_node.value:
            rule = self.rule(node)
            if rule.name in names:
                raise self.fail(node, f"a second rule is named {rule.name!r}")
            names.add(rule.name)
            rules.append(rule)
        return RuleSet(version, Thresholds(review=review, block=block), tuple(rules))

    def rule(self, node: Node) -> Rule:
        common = {"name", "kind", "score"}
        if not isinstance(node, MappingNode):
            raise self.fail(node, "a rule must be a mapping with name, kind and score")
        kind_node = self.keys(node).get("kind")
        if kind_node is None:
            raise self.fail(node, "the rule has no kind")
        kind = self.text(kind_node, "kind")
        builder = _KINDS.get(kind)
        if builder is None:
            known = ", ".join(sorted(_KINDS))
            raise self.fail(kind_node, f"unknown rule kind {kind!r} (known: {known})")
        params, build = builder
        fields = self.mapping(node, f"a {kind} rule", required=common | params)
        name = self.text(fields["name"], "name")
        if not _NAME.match(name):
            raise self.fail(fields["name"], "name must be lower_snake_case, at most 63 characters")
        score = self.integer(fields["score"], "score", 0, MAX_SCORE)
        return build(self, name, score, fields)

    # --- the kinds -----------------------------------------------------------------------

    def _velocity(self, name: str, score: int, f: dict[str, Node]) -> Rule:
        key = self.text(f["key"], "key")
        if key not in {k.value for k in CounterKey}:
            raise self.fail(f["key"], "key must be one of card, email, ip, device")
        return Velocity(
            name, score, key=CounterKey(key), window=self.duration(f["window"], "window"),
            max=self.integer(f["max"], "max", 0, 1_000_000),
        )  # fmt: skip

    def _amount_over(self, name: str, score: int, f: dict[str, Node]) -> Rule:
        amounts: dict[str, int] = {}
        for key_node, value in self.pairs(f["amounts"], "amounts"):
            currency = self.text(key_node, "a currency").upper()
            if currency not in CURRENCY_EXPONENTS:
                raise self.fail(key_node, f"{currency!r} is not a supported ISO 4217 currency")
            amounts[currency] = self.integer(value, f"amounts.{currency}", 1, MAX_AMOUNT)
        return AmountOver(name, score, amounts=amounts)

    def _bin_list(self, name: str, score: int, f: dict[str, Node]) -> Rule:
        def bin_of(node: Node) -> str:
            value = self.text(node, "a BIN", numbers=True)
            if not (value.isdigit() and 1 <= len(value) <= 8):
                raise self.fail(node, f"{value!r} is not a BIN (1 to 8 digits)")
            return value

        return BinList(name, score, bins=frozenset(self.items(f["bins"], "bins", bin_of)))

    def _email_domain(self, name: str, score: int, f: dict[str, Node]) -> Rule:
        def domain(node: Node) -> str:
            value = self.text(node, "a domain").strip().lower()
            if "@" in value or "." not in value:
                raise self.fail(node, f"{value!r} is not a domain such as example.com")
            return value

        return EmailDomain(
            name, score, domains=frozenset(self.items(f["domains"], "domains", domain))
        )

    def _funding(self, name: str, score: int, f: dict[str, Node]) -> Rule:
        def funding(node: Node) -> str:
            value = self.text(node, "a funding")
            if value not in _FUNDING:
                raise self.fail(node, "funding must be credit, debit, prepaid or unknown")
            return value

        return Funding(name, score, funding=frozenset(self.items(f["funding"], "funding", funding)))

    def _first_time_card(self, name: str, score: int, f: dict[str, Node]) -> Rule:
        return FirstTimeCard(name, score, lookback=self.duration(f["lookback"], "lookback"))

    def _country_mismatch(self, name: str, score: int, f: dict[str, Node]) -> Rule:
        return CountryMismatch(name, score)

    # --- nodes ---------------------------------------------------------------------------

    def keys(self, node: MappingNode) -> dict[str, Node]:
        found: dict[str, Node] = {}
        for key_node, value in node.value:
            key = self.text(key_node, "a key")
            if key in found:
                raise self.fail(key_node, f"{key!r} is given twice")
            found[key] = value
        return found

    def mapping(
        self,
        node: Node,
        what: str,
        *,
        required: AbstractSet[str],
        optional: AbstractSet[str] = frozenset(),
    ) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        found = self.keys(node)
        for key_node, _ in node.value:
            if key_node.value not in required | optional:
                allowed = ", ".join(sorted(required | optional))
                raise self.fail(key_node, f"unknown key {key_node.value!r} in {what} ({allowed})")
        missing = sorted(required - set(found))
        if missing:
            raise self.fail(node, f"{what} lacks {', '.join(missing)}")
        return found

    def pairs(self, node: Node, what: str) -> Iterator[tuple[Node, Node]]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        self.keys(node)  # duplicates
        yield from node.value

    def items(self, node: Node, what: str, read: Callable[[Node], T]) -> list[T]:
        if not isinstance(node, SequenceNode):
            raise self.fail(node, f"{what} must be a list")
        return [read(item) for item in node.value]

    def text(self, node: Node, what: str, *, numbers: bool = False) -> str:
        tags = {"tag:yaml.org,2002:str"} | ({"tag:yaml.org,2002:int"} if numbers else set())
        if not isinstance(node, ScalarNode) or node.tag not in tags:
            raise self.fail(node, f"{what} must be a string")
        return str(node.value)

    def integer(self, node: Node, what: str, low: int, high: int) -> int:
        if not isinstance(node, ScalarNode) or node.tag != "tag:yaml.org,2002:int":
            raise self.fail(node, f"{what} must be a whole number")
        value = int(_constructed(node))
        if not low <= value <= high:
            raise self.fail(node, f"{what} must be between {low} and {high}")
        return value

    def score(self, top: dict[str, Node], key: str, default: int, *, minimum: int) -> int:
        return self.integer(top[key], key, minimum, MAX_SCORE) if key in top else default

    def duration(self, node: Node, what: str) -> timedelta:
        if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:int":
            return timedelta(seconds=self.integer(node, what, 1, 366 * 86_400))
        match = _DURATION.match(self.text(node, what)) if isinstance(node, ScalarNode) else None
        if match is None:
            raise self.fail(node, f"{what} must be a duration such as 60s, 10m, 1h or 30d")
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
        if seconds > 366 * 86_400:
            raise self.fail(node, f"{what} must be at most 366d")
        return timedelta(seconds=seconds)


_Build = Callable[[_Reader, str, int, dict[str, Node]], Rule]
_KINDS: dict[str, tuple[frozenset[str], _Build]] = {
    "velocity": (frozenset({"key", "window", "max"}), _Reader._velocity),
    "amount_over": (frozenset({"amounts"}), _Reader._amount_over),
    "bin_list": (frozenset({"bins"}), _Reader._bin_list),
    "email_domain": (frozenset({"domains"}), _Reader._email_domain),
    "funding": (frozenset({"funding"}), _Reader._funding),
    "first_time_card": (frozenset({"lookback"}), _Reader._first_time_card),
    "country_mismatch": (frozenset(), _Reader._country_mismatch),
}


def _constructed(node: ScalarNode) -> Any:
    return yaml.SafeLoader("").construct_object(node)
