"""Failover along a route: properties over every sequence of answers, and the breaker.

The properties (hypothesis): a hard decline is never retried elsewhere; an unknown
outcome is never sent to a second acquirer; no acquirer is asked twice; the attempt names
the acquirer that was last sent to, and it was named before that call went out.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.payments.acquirer import (
    AcquirerRejected,
    AcquirerTimeout,
    AcquirerUnavailable,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    CardReference,
    DeclineCode,
    InvalidPaymentDetails,
    RejectionCode,
    Upi,
)
from core.payments.breaker import BreakerPolicy, Breakers, BreakerState, CircuitBreaker
from core.payments.failover import (
    NOT_SENT,
    RETRYABLE_DECLINES,
    TryOutcome,
    authorize_along,
)
from core.payments.model import Status
from core.payments.zone import ZoneCards
from core.shared.money import Money
from sandbox.acquirer import CardNetworkSimulator
from tests.fakes import FixedClock
from tests.fakes.card_vault import MemoryCardVault
from tests.unit.payments.conftest import build_world, secret_key
from tests.unit.payments.test_lifecycle import attempts_of

REQUEST = AuthorizationRequest("pa_failover", "acct_1", Money(1000, "INR"), Upi("a@okaxis"))
HARD_DECLINES = sorted(set(DeclineCode) - RETRYABLE_DECLINES)


@dataclass(frozen=True)
class Behaviour:
    kind: str  # approve | hard_decline | soft_decline | processing_error | unavailable |
    #            timeout | rejected | action
    code: DeclineCode | None = None


behaviours = st.one_of(
    st.sampled_from(
        [
            Behaviour(k)
            for k in ("approve", "processing_error", "unavailable", "timeout", "rejected", "action")
        ]
    ),
    st.builds(Behaviour, st.just("hard_decline"), st.sampled_from(HARD_DECLINES)),
    st.builds(Behaviour, st.just("soft_decline"), st.sampled_from(sorted(RETRYABLE_DECLINES))),
)


@dataclass
class Scripted:
    name: str
    behaviour: Behaviour
    calls: list[str] = field(default_factory=list)  # shared log of every call, in order

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        self.calls.append(self.name)
        kind, code = self.behaviour.kind, self.behaviour.code
        if kind == "unavailable":
            raise AcquirerUnavailable("refused")
        if kind == "timeout":
            raise AcquirerTimeout(request.attempt_reference)
        if kind == "rejected":
            raise AcquirerRejected(RejectionCode.INVALID_AMOUNT, "no")
        outcome = {
            "approve": AuthorizationOutcome.APPROVED,
            "hard_decline": AuthorizationOutcome.DECLINED,
            "soft_decline": AuthorizationOutcome.DECLINED,
            "processing_error": AuthorizationOutcome.PROCESSING_ERROR,
            "action": AuthorizationOutcome.REQUIRES_ACTION,
        }[kind]
        return AuthorizationResult(
            request.attempt_reference, outcome, request.amount, decline_code=code
        )


def run(route: list[Behaviour], open_circuits: set[int]) -> tuple[object, list[str], list[str]]:
    calls: list[str] = []
    named: list[str] = []  # the acquirer the attempt names, at each call
    names = [f"acq{i}" for i in range(len(route))]
    acquirers = {n: Scripted(n, b, calls) for n, b in zip(names, route, strict=True)}
    clock = FixedClock()
    breakers = Breakers(clock, BreakerPolicy(min_calls=1, error_rate=0.5))
    for i in open_circuits:
        breakers[names[i]].failed()  # one failure of one call: open
    current = [names[0]]

    async def before_send(name: str) -> None:
        current[0] = name

    class Watching:
        def __init__(self, inner: Scripted) -> None:
            self.inner = inner

        async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
            named.append(current[0])
            return await self.inner.authorize(request)

    routed = asyncio.run(
        authorize_along(
            names,
            REQUEST,
            acquirer_of=lambda n: Watching(acquirers[n]),  # type: ignore[arg-type,return-value]
            breakers=breakers,
            clock=clock,
            current=names[0],
            before_send=before_send,
        )
    )
    assert routed.acquirer == current[0]
    return routed, calls, named


@settings(max_examples=400, deadline=None)
@given(
    route=st.lists(behaviours, min_size=1, max_size=4),
    open_circuits=st.sets(st.integers(0, 3)),
)
def test_failover_never_retries_a_hard_decline_nor_an_unknown_outcome(
    route: list[Behaviour], open_circuits: set[int]
) -> None:
    open_circuits = {i for i in open_circuits if i < len(route)}
    routed, calls, named = run(route, open_circuits)
    assert len(calls) == len(set(calls)), "an acquirer was asked twice"
    # Each call went to the acquirer the attempt named at that moment (the recovery point).
    assert calls == named
    final = {"hard_decline", "timeout", "rejected", "approve", "action"}
    for position, name in enumerate(calls):
        behaviour = route[int(name.removeprefix("acq"))]
        if behaviour.kind in final:
            # A definitive answer, or an unknown outcome: nobody after it is asked.
            assert position == len(calls) - 1, f"{behaviour.kind} was retried elsewhere"
            assert routed.acquirer == name
        if behaviour.kind == "timeout":
            assert routed.answer is None
    skipped = {f"acq{i}" for i in open_circuits}
    assert not skipped & set(calls), "a connector with an open circuit was called"
    if not calls or all(route[int(c[3:])].kind == "unavailable" for c in calls):
        assert routed.answer is NOT_SENT


def test_a_retryable_decline_goes_on_and_the_tries_say_so() -> None:
    route = [
        Behaviour("unavailable"),
        Behaviour("soft_decline", DeclineCode.ISSUER_NOT_AVAILABLE),
        Behaviour("approve"),
    ]
    routed, calls, _ = run(route, set())
    assert calls == ["acq0", "acq1", "acq2"]
    assert [t.outcome for t in routed.tries] == [
        TryOutcome.UNAVAILABLE,
        TryOutcome.RETRYABLE,
        TryOutcome.ANSWERED,
    ]
    assert routed.tries[1].code == "issuer_not_available"
    assert isinstance(routed.answer, AuthorizationResult)
    assert routed.answer.outcome is AuthorizationOutcome.APPROVED


# --- the breaker ------------------------------------------------------------------------


def test_the_breaker_opens_on_an_error_rate_half_opens_and_closes() -> None:
    clock = FixedClock()
    changes: list[BreakerState] = []
    policy = BreakerPolicy(window=10, min_calls=4, error_rate=0.5, cooldown=timedelta(seconds=30))
    breaker = CircuitBreaker("acq", clock, policy, on_change=lambda _, s: changes.append(s))
    for ok in (True, True, False):
        breaker.succeeded() if ok else breaker.failed()
    assert breaker.state is BreakerState.CLOSED  # 1 of 3: too few calls, too low a rate
    breaker.failed()  # 2 of 4: 50 %
    assert breaker.state is BreakerState.OPEN and not breaker.allows()
    clock.advance(seconds=29)
    assert not breaker.allows()
    clock.advance(seconds=1)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allows() and not breaker.allows()  # one probe at a time
    breaker.failed()  # the probe failed: open again, for another cooldown
    assert breaker.state is BreakerState.OPEN
    clock.advance(seconds=30)
    assert breaker.allows()
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED and breaker.allows()
    assert changes == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


# --- in the confirm use-case ------------------------------------------------------------


class Down:
    """A card network whose process is gone: nothing reaches it."""

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        raise AcquirerUnavailable("connection refused")


async def test_a_payment_fails_over_to_the_backup_and_the_attempt_records_every_try() -> None:
    backup = CardNetworkSimulator()
    policy = BreakerPolicy(window=10, min_calls=3, error_rate=0.5)
    world = build_world(card_acquirer=Down(), backup=backup)  # type: ignore[arg-type]
    world.payments._breakers = Breakers(world.clock, policy)
    for _ in range(4):
        intent = await world.intent(manual=True)
        assert (await world.confirm_card(intent)).status is Status.REQUIRES_CAPTURE
        [attempt] = await attempts_of(world, intent.id)
        assert attempt.acquirer == "backup" and attempt.route == "card"
    # The first three found the primary down; then its circuit opened and it was skipped.
    assert [t["outcome"] for t in attempt.tries] == ["circuit_open", "answered"]
    assert world.payments._breakers["card_network"].state is BreakerState.OPEN
    # Captured where it was authorized.
    captured = await world.payments.capture(secret_key(), intent.id)
    assert captured.status is Status.SUCCEEDED
    assert len(backup.settlement) == 1
    await world.upi.aclose()


async def test_an_unknown_outcome_stays_with_its_acquirer() -> None:
    backup = CardNetworkSimulator()
    world = build_world(backup=backup)
    intent = await world.intent()
    # 4000000000000408: approved at the network, the reply lost: never sent to the backup.
    assert (await world.confirm_card(intent, "4000000000000408")).status is Status.PROCESSING
    [attempt] = await attempts_of(world, intent.id)
    assert attempt.acquirer == "card_network"
    assert [t["outcome"] for t in attempt.tries] == ["unknown"]
    assert await backup.lookup(attempt.id) is None
    await world.upi.aclose()


class LostReply:
    """The backup acts on the authorization but its reply is lost."""

    def __init__(self) -> None:
        self.network = CardNetworkSimulator()

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        await self.network.authorize(request)
        raise AcquirerTimeout(request.attempt_reference)

    async def lookup(self, attempt_reference: str) -> AuthorizationResult | None:
        return await self.network.lookup(attempt_reference)

    def __getattr__(self, name: str) -> object:
        return getattr(self.network, name)


async def test_after_a_failover_recovery_asks_the_acquirer_the_attempt_went_to() -> None:
    backup = LostReply()
    world = build_world(card_acquirer=Down(), backup=backup)  # type: ignore[arg-type]
    intent = await world.intent(manual=True)
    assert (await world.confirm_card(intent)).status is Status.PROCESSING
    [attempt] = await attempts_of(world, intent.id)
    # The attempt was moved to the backup before the call: that is where it lives.
    assert attempt.acquirer == "backup"
    assert [t["outcome"] for t in attempt.tries] == ["unavailable", "unknown"]
    world.clock.advance(minutes=10)
    await world.payments.recover_stuck_attempts(timedelta(minutes=5))
    assert (await world.stored(intent.id)).status is Status.REQUIRES_CAPTURE
    await world.upi.aclose()


async def test_the_zone_keeps_an_attempts_card_for_the_next_connector_only_for_a_while() -> None:
    clock = FixedClock()
    vault = MemoryCardVault()
    cards = ZoneCards(vault, clock, hold=timedelta(minutes=2))
    token = vault.add_token("acct_1", "4242424242424242")
    reference = CardReference(token, livemode=False, purpose="p")
    request = replace(REQUEST, merchant_id="acct_1", source=reference)
    first = await cards.card(request, reference)
    assert await cards.card(request, reference) is first  # the token is used up, the card held
    other = replace(request, attempt_reference="pa_other")
    with pytest.raises(InvalidPaymentDetails):  # another attempt cannot have it
        await cards.card(other, reference)
    clock.advance(minutes=3)
    with pytest.raises(InvalidPaymentDetails):  # and the hold ends
        await cards.card(request, reference)
