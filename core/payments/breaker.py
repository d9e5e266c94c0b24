"""A circuit breaker per connector: stop sending to an acquirer that keeps failing.

    CLOSED ──(error rate >= threshold over the last `window` calls,
              at least `min_calls` of them)──> OPEN
    OPEN ──(`cooldown` elapsed)──> HALF_OPEN: one probe call at a time is let through
    HALF_OPEN ──probe succeeds──> CLOSED (the window starts afresh)
    HALF_OPEN ──probe fails──> OPEN (for another cooldown)

A failure is what says the acquirer itself is unwell: it could not be reached, gave no
answer in time, or answered a processing error. A decline is a healthy answer. While
OPEN, `allows()` is False and the failover skips the connector without sending anything.

A small state machine rather than a library: aiobreaker and purgatory open on a count of
consecutive failures and wrap the call; routing needs an error rate over a window, a
question asked before the call (to skip to the next route) and the state as a value for
the metrics hooks. Time comes from the Clock port, so tests step through it.

Each process keeps its own breakers, as each Envoy keeps its own outlier detection: a
process learns of an acquirer's trouble from its own calls within a few requests.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.shared.ports import Clock


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    window: int = 50  # the last N calls
    min_calls: int = 20  # no verdict on fewer calls
    error_rate: float = 0.5  # open at this share of failures or more
    cooldown: timedelta = timedelta(seconds=30)


StateListener = Callable[[str, BreakerState], None]


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        clock: Clock,
        policy: BreakerPolicy | None = None,
        on_change: StateListener | None = None,
    ) -> None:
        self.name = name
        self._clock = clock
        self._policy = policy or BreakerPolicy()
        self._calls: deque[bool] = deque(maxlen=self._policy.window)  # True: a failure
        self._state = BreakerState.CLOSED
        self._opened_at: datetime | None = None
        self._probing = False
        self._on_change = on_change

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._cooled_down():
            self._move(BreakerState.HALF_OPEN)
        return self._state

    def allows(self) -> bool:
        """May a call go now? In HALF_OPEN the first caller gets the probe."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def succeeded(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._calls.clear()
            self._move(BreakerState.CLOSED)
        self._record(failure=False)

    def failed(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._open()
            return
        self._record(failure=True)
        calls = len(self._calls)
        if (
            self._state is BreakerState.CLOSED
            and calls >= self._policy.min_calls
            and sum(self._calls) / calls >= self._policy.error_rate
        ):
            self._open()

    def _record(self, *, failure: bool) -> None:
        self._probing = False
        self._calls.append(failure)

    def _open(self) -> None:
        self._probing = False
        self._opened_at = self._clock.now()
        self._move(BreakerState.OPEN)

    def _cooled_down(self) -> bool:
        return (
            self._opened_at is not None
            and self._clock.now() - self._opened_at >= self._policy.cooldown
        )

    def _move(self, to: BreakerState) -> None:
        if to is self._state:
            return
        self._state = to
        if self._on_change is not None:
            self._on_change(self.name, to)


class Breakers:
    """One breaker per connector name, made on first use."""

    def __init__(
        self,
        clock: Clock,
        policy: BreakerPolicy | None = None,
        on_change: StateListener | None = None,
    ) -> None:
        self._clock = clock
        self._policy = policy or BreakerPolicy()
        self._on_change = on_change
        self._by_name: dict[str, CircuitBreaker] = {}

    def __getitem__(self, name: str) -> CircuitBreaker:
        breaker = self._by_name.get(name)
        if breaker is None:
            breaker = CircuitBreaker(name, self._clock, self._policy, self._on_change)
            self._by_name[name] = breaker
        return breaker

    def states(self) -> dict[str, BreakerState]:
        return {name: breaker.state for name, breaker in self._by_name.items()}
