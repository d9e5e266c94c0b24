"""Authorize along a route, failing over to the next acquirer only when that is safe.

The rules, one per way a call can end (the property tests in
tests/unit/payments/test_failover.py hold them for every sequence of answers):

    circuit open             skipped, nothing sent                -> next acquirer
    AcquirerUnavailable      not sent (refused connection, no
                             channel: a timeout before sending)   -> next acquirer
    retryable answer         PROCESSING_ERROR, or a decline whose
                             code says the acquirer's side failed,
                             or a soft decline for 3-D Secure     -> next acquirer
    AcquirerTimeout          sent, outcome unknown                -> STOP: ask this acquirer
                                                                     again, never another
    any other answer         approved, declined (hard), requires
                             action, pending, risk blocked        -> STOP: that is the answer
    AcquirerRejected         the request itself was refused       -> STOP

Before a request goes to an acquirer other than the one the attempt names, `before_send`
runs (the use-case commits the attempt's new acquirer: the recovery point), so a crash
in the middle leaves the attempt pointing at the acquirer that may hold it. Every try is
returned, for the attempt's record and the metrics hooks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from core.payments.acquirer import (
    Acquirer,
    AcquirerRejected,
    AcquirerTimeout,
    AcquirerUnavailable,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    DeclineCode,
)
from core.payments.breaker import Breakers
from core.payments.observer import NoObserver, PaymentsObserver
from core.shared.ports import Clock


class TryOutcome(StrEnum):
    CIRCUIT_OPEN = "circuit_open"  # skipped: nothing sent
    UNAVAILABLE = "unavailable"  # not sent
    RETRYABLE = "retryable"  # answered, and another acquirer may do better
    UNKNOWN = "unknown"  # sent, no answer
    REJECTED = "rejected"  # the acquirer refused the request as such
    ANSWERED = "answered"  # a definitive answer: the attempt's


# Declines that speak of the acquirer's or the network's trouble, not of the card or the
# payer: another acquirer may well get through. AUTHENTICATION_REQUIRED is the issuer's
# soft decline for strong customer authentication from an acquirer that cannot run 3-D
# Secure: nothing was authorized, and an acquirer that can will challenge the card.
RETRYABLE_DECLINES = frozenset(
    {
        DeclineCode.PROCESSING_ERROR,
        DeclineCode.ISSUER_NOT_AVAILABLE,
        DeclineCode.TRY_AGAIN_LATER,
        DeclineCode.AUTHENTICATION_REQUIRED,
    }
)


def retryable_elsewhere(result: AuthorizationResult) -> bool:
    if result.outcome is AuthorizationOutcome.PROCESSING_ERROR:
        return True
    return (
        result.outcome is AuthorizationOutcome.DECLINED
        and result.decline_code in RETRYABLE_DECLINES
    )


@dataclass(frozen=True)
class Try:
    acquirer: str
    outcome: TryOutcome
    code: str = ""  # the decline code or the answer's outcome, when there was one

    def as_dict(self) -> dict[str, str]:
        return {"acquirer": self.acquirer, "outcome": self.outcome.value, "code": self.code}


class NotSent:
    """No acquirer took the request: every route was open or unreachable."""


NOT_SENT = NotSent()

Answer = AuthorizationResult | AcquirerRejected | NotSent | None  # None: outcome unknown


@dataclass
class Routed:
    acquirer: str  # where the attempt lives now: the last acquirer sent to
    answer: Answer
    tries: list[Try] = field(default_factory=list)


async def authorize_along(
    route: Sequence[str],
    request: AuthorizationRequest,
    *,
    acquirer_of: Callable[[str], Acquirer],
    breakers: Breakers,
    clock: Clock,
    current: str,
    before_send: Callable[[str], Awaitable[None]],
    observer: PaymentsObserver | None = None,
) -> Routed:
    """Tries `route` in order for one attempt; `current` is the acquirer it names now."""
    observer = observer or NoObserver()
    routed = Routed(current, NOT_SENT)
    for name in route:
        breaker = breakers[name]
        if not breaker.allows():
            routed.tries.append(Try(name, TryOutcome.CIRCUIT_OPEN))
            continue
        if name != routed.acquirer:
            await before_send(name)
            routed.acquirer = name
        started = clock.now()
        outcome, answer = await _call(acquirer_of(name), request)
        seconds = (clock.now() - started).total_seconds()
        observer.connector_called(name, "authorize", seconds, outcome.value)
        code = ""
        if isinstance(answer, AuthorizationResult):
            code = answer.decline_code.value if answer.decline_code else answer.outcome.value
        routed.tries.append(Try(name, outcome, code))
        if outcome in (TryOutcome.UNAVAILABLE, TryOutcome.UNKNOWN) or (
            outcome is TryOutcome.RETRYABLE
            and isinstance(answer, AuthorizationResult)
            and answer.outcome is AuthorizationOutcome.PROCESSING_ERROR
        ):
            breaker.failed()
        else:
            breaker.succeeded()
        if outcome is TryOutcome.UNAVAILABLE:
            continue
        routed.answer = answer
        if outcome is not TryOutcome.RETRYABLE:
            return routed
    return routed


async def _call(acquirer: Acquirer, request: AuthorizationRequest) -> tuple[TryOutcome, Answer]:
    try:
        result = await acquirer.authorize(request)
    except AcquirerUnavailable:
        return TryOutcome.UNAVAILABLE, NOT_SENT
    except AcquirerTimeout:
        return TryOutcome.UNKNOWN, None
    except AcquirerRejected as rejected:
        return TryOutcome.REJECTED, rejected
    if retryable_elsewhere(result):
        return TryOutcome.RETRYABLE, result
    return TryOutcome.ANSWERED, result
