"""What the risk engine needs from the outside world: counters, the merchants' overrides,
where an address is, and someone to tell what it decided."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from core.risk.model import Counter, MerchantOverrides, RiskAssessment


class VelocityUnavailable(Exception):
    """The counters could not be reached: the counting rules are skipped, not failed."""


class VelocityStore(Protocol):
    """Sliding-window counters of payments (Redis in production, in process for one
    process). tests/contract/test_velocity_store_contract.py is what each must do."""

    async def record_and_count(
        self, event_id: str, counters: Sequence[Counter], at: datetime
    ) -> Sequence[int]:
        """Records the payment `event_id` at `at` under every counter's key, and answers
        for each counter, in order, how many payments its key holds within its window
        ending at `at` (after `at` minus the window), this one included. Recording the
        same event id again counts it once. A key keeps the payments of the longest
        window asked for it in this call: the rules ask the same windows every time.
        One round trip; checking and recording are one atomic step, so two processes
        never both see room for the last payment.

        Raises VelocityUnavailable when the store cannot answer."""
        ...


class RiskOverridesRepository(Protocol):
    async def for_merchant(self, merchant_id: str) -> MerchantOverrides: ...

    async def set(self, merchant_id: str, overrides: MerchantOverrides, at: datetime) -> None:
        """Replaces the merchant's overrides (empty ones remove them)."""
        ...


class RiskScope(Protocol):
    """The risk context's repositories in a unit of work (core/unit_of_work.py)."""

    risk_overrides: RiskOverridesRepository


class IpCountries(Protocol):
    def country_of(self, ip: str) -> str:
        """ISO 3166-1 alpha-2 of the address, "" when unknown."""
        ...


class RiskObserver(Protocol):
    """Metrics hooks: told every assessment (its score, and each rule that fired in its
    reasons) and every time the counters could not be reached. Must not raise or block."""

    def assessed(self, assessment: RiskAssessment, *, livemode: bool) -> None: ...

    def velocity_unavailable(self) -> None: ...


class NoObserver:
    def assessed(self, assessment: RiskAssessment, *, livemode: bool) -> None:
        return None

    def velocity_unavailable(self) -> None:
        return None


class NoIpCountries:
    def country_of(self, ip: str) -> str:
        return ""
