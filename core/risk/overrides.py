"""A merchant's own risk settings: thresholds, rules switched off, other scores for named
rules, over the rules file the gateway started with.

Read through a short per-process cache, as rate-limit overrides are, so that a confirm
costs no extra query: a change takes effect within OVERRIDE_CACHE_TTL on every API
process (at once on the one that made it). Every change is written to the audit log in
the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta

from core.access.audit import Action, caller_event
from core.access.model import Principal
from core.risk.engine import RuleSet
from core.risk.model import MAX_SCORE, MerchantOverrides, Thresholds
from core.shared.cache import TtlCache
from core.shared.errors import InvalidArgument, Violations
from core.shared.ports import Clock
from core.unit_of_work import UnitOfWorkFactory

OVERRIDE_CACHE_TTL = timedelta(seconds=30)


class RiskSettings:
    def __init__(self, rules: RuleSet, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._rules = rules
        self._uow = uow
        self._clock = clock
        self._cache: TtlCache[MerchantOverrides] = TtlCache(clock, OVERRIDE_CACHE_TTL)

    @property
    def rules(self) -> RuleSet:
        return self._rules

    async def for_merchant(self, merchant_id: str) -> MerchantOverrides:
        async def load() -> MerchantOverrides:
            async with self._uow() as uow:
                return await uow.risk_overrides.for_merchant(merchant_id)

        return await self._cache.get(merchant_id, load)

    async def get(self, caller: Principal) -> MerchantOverrides:
        async with self._uow() as uow:
            return await uow.risk_overrides.for_merchant(caller.merchant_id)

    async def update(self, caller: Principal, overrides: MerchantOverrides) -> MerchantOverrides:
        """Replaces the caller's merchant's overrides; empty ones restore the rules file."""
        self._validate(overrides)
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.risk_overrides.set(caller.merchant_id, overrides, now)
            await uow.audit.append(
                caller_event(
                    caller, Action.RISK_RULES_CHANGE, now, target="risk_rules",
                    details=_audit_details(overrides),
                )
            )  # fmt: skip
            await uow.commit()
        self._cache.forget(caller.merchant_id)
        return overrides

    def _validate(self, overrides: MerchantOverrides) -> None:
        violations = Violations()
        known = self._rules.rule_names
        _unknown(violations, "disabled_rules", overrides.disabled_rules, known)
        _unknown(violations, "scores", overrides.scores, known)
        for name, score in overrides.scores.items():
            if not 0 <= score <= MAX_SCORE:
                violations.add(f"scores[{name}]", f"must be between 0 and {MAX_SCORE}")
        for field, value in (
            ("review_threshold", overrides.review_threshold),
            ("block_threshold", overrides.block_threshold),
        ):
            if value is not None and not 0 < value <= MAX_SCORE:
                violations.add(field, f"must be between 1 and {MAX_SCORE}")
        violations.raise_if_any()
        try:
            Thresholds(
                review=overrides.review_threshold or self._rules.thresholds.review,
                block=overrides.block_threshold or self._rules.thresholds.block,
            )
        except ValueError:
            raise InvalidArgument.field(
                "review_threshold", "must not exceed block_threshold (yours or the rules file's)"
            ) from None


def _unknown(
    violations: Violations, field: str, names: Iterable[str], known: frozenset[str]
) -> None:
    for name in names:
        if name not in known:
            violations.add(field, f"no rule is named {name[:64]!r}")


def _audit_details(overrides: MerchantOverrides) -> Mapping[str, str]:
    return {
        "review_threshold": str(overrides.review_threshold or "default"),
        "block_threshold": str(overrides.block_threshold or "default"),
        "disabled_rules": ",".join(sorted(overrides.disabled_rules)) or "none",
        "scores": ",".join(f"{k}={v}" for k, v in sorted(overrides.scores.items())) or "none",
    }
