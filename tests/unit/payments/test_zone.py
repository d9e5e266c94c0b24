"""The cardholder-data zone: the application zone names the card, the zone detokenizes it
just before the connector's call, and a reference the vault refuses never reaches it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.system import SystemClock
from core.payments.acquirer import (
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    Card,
    CardReference,
    InvalidPaymentDetails,
)
from core.payments.model import Status
from core.payments.zone import CardholderDataZone, ZoneCards
from core.shared.money import Money
from sandbox.acquirer import CardNetworkSimulator
from tests.fakes import FixedClock
from tests.fakes.card_vault import MemoryCardVault
from tests.unit.payments.conftest import MERCHANT, build_world


class Recording(CardNetworkSimulator):
    """The card network, remembering the sources it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[object] = []

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        self.sources.append(request.source)
        return await super().authorize(request)


def reference(payment_method: str) -> AuthorizationRequest:
    return AuthorizationRequest(
        "pa_zone_1",
        MERCHANT,
        Money(1200, "EUR"),
        CardReference(payment_method, livemode=False, purpose="payment_intent pi_1 attempt pa_1"),
    )


async def test_the_zone_swaps_the_reference_for_the_card_and_uses_up_the_token() -> None:
    vault, network = MemoryCardVault(), Recording()
    token = vault.add_token(MERCHANT, "4242424242424242", exp_month=1, exp_year=2040)
    zone = CardholderDataZone(network, ZoneCards(vault, SystemClock()))
    result = await zone.authorize(reference(token))
    assert result.outcome is AuthorizationOutcome.APPROVED
    [sent] = network.sources
    assert isinstance(sent, Card) and sent.number.reveal() == "4242424242424242"
    assert vault.purposes == ["payment_intent pi_1 attempt pa_1"]  # the vault's audit


async def test_a_refused_reference_never_reaches_the_connector() -> None:
    vault, network = MemoryCardVault(), Recording()
    token = vault.add_token(MERCHANT, "4242424242424242", exp_month=1, exp_year=2040)
    zone = CardholderDataZone(network, ZoneCards(vault, SystemClock()))
    await zone.authorize(reference(token))
    for refused in (token, "tok_unknown"):  # used up; unknown
        request = replace(reference(refused), attempt_reference=f"pa_{refused}")
        with pytest.raises(InvalidPaymentDetails) as raised:
            await zone.authorize(request)
        assert raised.value.field == "payment_method"
    assert len(network.sources) == 1


class Spy:
    """Between the orchestrator and the zone: what leaves the application zone."""

    def __init__(self, zone: CardholderDataZone) -> None:
        self.zone = zone
        self.sources: list[object] = []

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        self.sources.append(request.source)
        return await self.zone.authorize(request)

    def __getattr__(self, name: str) -> object:
        return getattr(self.zone, name)


async def test_the_orchestrator_sends_a_reference_never_a_card() -> None:
    network = Recording()
    world = build_world()
    spy = Spy(CardholderDataZone(network, ZoneCards(world.vault, SystemClock())))
    world.payments._acquirers._acquirers["card_network"] = spy  # type: ignore[attr-defined]
    intent = await world.intent()
    assert (await world.confirm_card(intent)).status is Status.SUCCEEDED
    [left] = spy.sources
    assert isinstance(left, CardReference) and left.payment_method.startswith("tok_")
    assert left.purpose.startswith(f"payment_intent {intent.id} attempt pa_")
    [arrived] = network.sources
    assert isinstance(arrived, Card) and arrived.last4 == "4242"
    await world.upi.aclose()


async def test_the_zone_drops_the_cards_whose_hold_ended_oldest_first() -> None:
    clock = FixedClock()
    vault = MemoryCardVault()
    cards = ZoneCards(vault, clock, hold=timedelta(minutes=2))

    async def authorize(attempt: str) -> None:
        token = vault.add_token(MERCHANT, "4242424242424242", exp_month=1, exp_year=2040)
        source = CardReference(token, livemode=False, purpose="p")
        request = replace(reference(token), attempt_reference=attempt, source=source)
        await cards.card(request, source)

    await authorize("pa_1")
    clock.advance(minutes=1)
    await authorize("pa_2")
    assert len(cards._held) == 2
    clock.advance(minutes=1)  # pa_1's hold ends now, pa_2's in a minute
    await authorize("pa_3")
    assert [key[1] for key in cards._held] == ["pa_2", "pa_3"]
    clock.advance(minutes=5)
    await authorize("pa_4")
    assert [key[1] for key in cards._held] == ["pa_4"]
