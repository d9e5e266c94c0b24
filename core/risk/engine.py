"""The risk engine: every rule of the rule set over one payment, a score with its reasons,
and the decision of the thresholds.

One call per confirm (`assess`), in the decide phase, before anything is written. It costs
at most one round trip: every counter the rules need, for every key, goes to the velocity
store as one request that records the payment and counts in the same step. A payment no
counting rule applies to (UPI without email, a test card in test mode) costs none.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from core.risk.model import (
    MAX_SCORE,
    NO_OVERRIDES,
    Counter,
    MerchantOverrides,
    PaymentSignals,
    Reason,
    RiskAssessment,
    Thresholds,
)
from core.risk.ports import (
    IpCountries,
    NoIpCountries,
    NoObserver,
    RiskObserver,
    VelocityStore,
    VelocityUnavailable,
)
from core.risk.rules import Rule, test_card_blocked

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuleSet:
    """A rules file, validated (adapters/risk/rules_file.py reads one)."""

    version: int
    thresholds: Thresholds
    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        names = [rule.name for rule in self.rules]
        if len(names) != len(set(names)):
            raise ValueError("rule names must be unique")

    @property
    def rule_names(self) -> frozenset[str]:
        return frozenset(rule.name for rule in self.rules)

    def for_merchant(self, overrides: MerchantOverrides) -> tuple[Thresholds, tuple[Rule, ...]]:
        if overrides.empty:
            return self.thresholds, self.rules
        thresholds = Thresholds(
            review=overrides.review_threshold or self.thresholds.review,
            block=overrides.block_threshold or self.thresholds.block,
        )
        rules = tuple(
            replace(rule, score=overrides.scores.get(rule.name, rule.score))
            for rule in self.rules
            if rule.name not in overrides.disabled_rules
        )
        return thresholds, rules


class OverridesSource(Protocol):
    async def for_merchant(self, merchant_id: str) -> MerchantOverrides: ...


class NoOverrides:
    async def for_merchant(self, merchant_id: str) -> MerchantOverrides:
        return NO_OVERRIDES


class _NothingCounted:
    async def record_and_count(
        self, event_id: str, counters: Sequence[Counter], at: datetime
    ) -> Sequence[int]:
        raise VelocityUnavailable("no velocity store")


TEST_CARD_BLOCKED = Reason(
    "test_card_blocked", "test_card", MAX_SCORE, "the test card that is always blocked"
)


class RiskEngine:
    def __init__(
        self,
        rules: RuleSet,
        velocity: VelocityStore,
        *,
        overrides: OverridesSource | None = None,
        ip_countries: IpCountries | None = None,
        observer: RiskObserver | None = None,
    ) -> None:
        self.rules = rules
        self._velocity = velocity
        self._overrides = overrides or NoOverrides()
        self._ip_countries = ip_countries or NoIpCountries()
        self._observer = observer or NoObserver()

    @classmethod
    def without_rules(cls) -> RiskEngine:
        """Only the built-in test-mode block: for flows tested without a rules file."""
        return cls(RuleSet(version=0, thresholds=Thresholds(), rules=()), _NothingCounted())

    async def assess(self, event_id: str, signals: PaymentSignals, at: datetime) -> RiskAssessment:
        """Scores the payment `event_id` (the attempt id: a retry of the same attempt is
        counted once) and decides."""
        if signals.ip and not signals.ip_country:
            signals = replace(signals, ip_country=self._ip_countries.country_of(signals.ip))
        thresholds, rules = self.rules.for_merchant(
            await self._overrides.for_merchant(signals.merchant_id)
        )
        counts = await self._count(event_id, signals, rules, at)
        reasons = [TEST_CARD_BLOCKED] if test_card_blocked(signals) else []
        for rule in rules:
            if rule.counters(signals) and counts is None:
                continue  # the counters are unreachable: counting rules sit this one out
            detail = rule.fires(signals, counts or {})
            if detail is not None and rule.score > 0:
                reasons.append(Reason(rule.name, rule.kind, rule.score, detail))
        score = min(MAX_SCORE, sum(reason.score for reason in reasons))
        assessment = RiskAssessment(
            score=score,
            decision=thresholds.decide(score),
            reasons=tuple(reasons),
            rules_version=self.rules.version,
        )
        self._observer.assessed(assessment, livemode=signals.livemode)
        return assessment

    async def _count(
        self, event_id: str, signals: PaymentSignals, rules: Sequence[Rule], at: datetime
    ) -> Mapping[Counter, int] | None:
        wanted = list(dict.fromkeys(c for rule in rules for c in rule.counters(signals)))
        if not wanted:
            return {}
        try:
            counts = await self._velocity.record_and_count(event_id, wanted, at)
        except VelocityUnavailable:
            # Fail open: an outage of the counters must not stop every payment; the other
            # rules still score it, and the observer makes the outage visible.
            log.warning("velocity store unavailable: counting rules skipped")
            self._observer.velocity_unavailable()
            return None
        return dict(zip(wanted, counts, strict=True))
