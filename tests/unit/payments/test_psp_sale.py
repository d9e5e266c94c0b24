"""Automatic capture as a sale at the JSON PSPs (Orbit's `capture: true`, Kora's charge
without preauthorization): the orchestrator over each PSP's connector and its simulator
on loopback, counted. docs/connectors.md, "Authorization and capture in one message (a
sale)": one acquirer call per automatic payment, a lost answer recovered captured once,
and a declined or soft-declined sale captured nothing (the one that fails over is
challenged and captured at the card network, by a capture call)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from adapters.acquirers.kora_client import KoraConnector
from adapters.acquirers.orbit_client import OrbitConnector
from core.payments.acquirer import (
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    OperationResult,
)
from core.payments.errors import PaymentFailed
from core.payments.model import AttemptStatus, PaymentAttempt, Status
from sandbox.acquirer import CardNetworkSimulator
from sandbox.psp.card_books import CardPspBooks
from sandbox.psp.kora_simulator import KoraBooks
from sandbox.psp.orbit_simulator import OrbitBooks
from tests.psp_on_loopback import psp_on_loopback
from tests.unit.payments.conftest import MERCHANT, WEB_BASE_URL, World, build_world

APPROVED = "4242424242424242"
DECLINED = "4000000000000002"
CHALLENGE_CARD = "4000002760003184"  # no 3-D Secure at either PSP: a soft decline
TIMEOUT_CARD = "4000000000000408"
MINUTE = timedelta(minutes=1)


@dataclass
class Counted:
    """A PSP's connector, with the authorizations and captures it was asked for."""

    connector: OrbitConnector | KoraConnector
    books: CardPspBooks
    authorizations: list[AuthorizationRequest] = field(default_factory=list)
    captures: list[CaptureRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        authorize, capture = self.connector.authorize, self.connector.capture

        async def authorizing(request: AuthorizationRequest) -> AuthorizationResult:
            self.authorizations.append(request)
            return await authorize(request)

        async def capturing(request: CaptureRequest) -> OperationResult:
            self.captures.append(request)
            return await capture(request)

        self.connector.authorize = authorizing  # type: ignore[method-assign]
        self.connector.capture = capturing  # type: ignore[method-assign]

    def settled(self) -> list[str]:
        return [line.reference for line in self.books.settlement]


@pytest.fixture(params=["orbit", "kora"])
async def psp(request: pytest.FixtureRequest) -> AsyncIterator[Counted]:
    orbit, kora = OrbitBooks(), KoraBooks()
    async with psp_on_loopback(orbit, kora) as (to_orbit, to_kora):
        if request.param == "orbit":
            yield Counted(to_orbit, orbit)
        else:
            yield Counted(to_kora, kora)


async def attempt_of(world: World, intent_id: str) -> PaymentAttempt:
    async with world.uow() as uow:
        [attempt] = await uow.payment_attempts.for_intent(MERCHANT, intent_id)
    return attempt


async def test_an_automatic_capture_at_a_psp_is_one_call_a_sale(psp: Counted) -> None:
    world = build_world(card_acquirer=psp.connector)
    intent = await world.intent(2500, currency="eur")
    paid = await world.confirm_card(intent, APPROVED)
    assert (paid.status, paid.amount_received) == (Status.SUCCEEDED, 2500)
    attempt = await attempt_of(world, intent.id)
    assert attempt.status is AttemptStatus.CAPTURED and attempt.amount_captured == 2500
    [request] = psp.authorizations
    assert request.capture_reference == attempt.capture_reference == f"{attempt.id}_capture_1"
    assert psp.captures == []  # captured in the charge itself
    assert psp.settled() == [attempt.capture_reference]
    await world.upi.aclose()


async def test_a_manual_capture_at_a_psp_is_a_hold_then_a_capture(psp: Counted) -> None:
    world = build_world(card_acquirer=psp.connector)
    held = await world.confirm_card(await world.intent(1800, manual=True, currency="eur"))
    assert held.status is Status.REQUIRES_CAPTURE and psp.settled() == []
    [request] = psp.authorizations
    assert request.capture_reference == ""
    await world.upi.aclose()


async def test_a_lost_sale_answer_at_a_psp_is_recovered_captured_once(psp: Counted) -> None:
    world = build_world(card_acquirer=psp.connector)
    intent = await world.intent(5000, currency="eur")
    answered = await world.confirm_card(intent, TIMEOUT_CARD)
    assert answered.status is Status.PROCESSING
    attempt = await attempt_of(world, intent.id)
    assert psp.settled() == [f"{attempt.id}_capture_1"]  # the PSP made the sale

    world.clock.advance(minutes=2)
    assert await world.payments.recover_stuck_attempts(MINUTE) == [attempt.id]
    stored = await world.stored(intent.id)
    assert (stored.status, stored.amount_received) == (Status.SUCCEEDED, 5000)
    assert (await attempt_of(world, intent.id)).status is AttemptStatus.CAPTURED
    assert psp.captures == []  # found captured by the lookup: no capture sent
    assert psp.settled() == [f"{attempt.id}_capture_1"]
    await world.upi.aclose()


async def test_a_declined_sale_at_a_psp_captures_nothing(psp: Counted) -> None:
    world = build_world(card_acquirer=psp.connector)
    intent = await world.intent(currency="eur")
    with pytest.raises(PaymentFailed) as raised:
        await world.confirm_card(intent, DECLINED)
    assert raised.value.reason == "CARD_DECLINED"
    assert (await attempt_of(world, intent.id)).amount_captured == 0
    assert psp.settled() == [] and psp.captures == []
    await world.upi.aclose()


async def test_a_sale_that_must_be_authenticated_fails_over_and_is_captured_after_the_challenge(
    psp: Counted,
) -> None:
    """The PSP's soft decline captured nothing; the card network challenges the sale, so
    its capture lapses, and the capture after the challenge is a capture call there."""
    network = CardNetworkSimulator(challenge_base_url=WEB_BASE_URL)
    world = build_world(card_acquirer=psp.connector, backup=network)
    intent = await world.intent(1500, currency="eur")
    challenged = await world.confirm_card(intent, CHALLENGE_CARD)
    assert challenged.status is Status.REQUIRES_ACTION
    attempt = await attempt_of(world, intent.id)
    assert attempt.acquirer == "backup" and psp.settled() == []
    done = await world.payments.complete_action(attempt.id, True)
    assert (done.status, done.amount_received) == (Status.SUCCEEDED, 1500)
    assert [line.reference for line in network.settlement] == [f"{attempt.id}_capture_1"]
    assert psp.settled() == [] and psp.captures == []
    await world.upi.aclose()
