"""Metrics hooks of the payments core: routing, breakers, connector calls.

The core calls a PaymentsObserver at the moments an operator wants to count; it never
waits on it and ignores what it returns. NoObserver (the default) does nothing; an
operations adapter (Prometheus, OpenTelemetry) implements the three methods and is
handed to the composition root. Calls are synchronous and must not block: count, don't
send.
"""

from __future__ import annotations

from typing import Protocol

from core.payments.breaker import BreakerState


class PaymentsObserver(Protocol):
    def routed(self, rule: str, acquirer: str, payment_method_type: str) -> None:
        """An authorization went to `acquirer` by `rule` (after any failover)."""
        ...

    def breaker_changed(self, acquirer: str, state: BreakerState) -> None:
        """A connector's circuit breaker moved to `state`."""
        ...

    def connector_called(self, acquirer: str, operation: str, seconds: float, outcome: str) -> None:
        """One call to a connector ended: `outcome` is a failover.TryOutcome value."""
        ...


class NoObserver:
    def routed(self, rule: str, acquirer: str, payment_method_type: str) -> None:
        pass

    def breaker_changed(self, acquirer: str, state: BreakerState) -> None:
        pass

    def connector_called(self, acquirer: str, operation: str, seconds: float, outcome: str) -> None:
        pass
