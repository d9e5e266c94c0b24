"""A payments world over fakes: memory unit of work, memory vault, the two simulators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from adapters.acquirers.router import StaticAcquirerRouter
from core.access.model import Principal
from core.access.roles import Role
from core.payments.acquirer import Acquirer
from core.payments.breaker import Breakers
from core.payments.lifecycle import ConfirmPaymentIntent, PaymentLifecycle
from core.payments.model import CaptureMethod, PaymentIntent, PaymentPolicy
from core.payments.refunds import Refunds
from core.payments.use_cases import CreatePaymentIntent, PaymentIntents
from core.payments.zone import CardholderDataZone, ZoneCards
from core.risk.engine import RiskEngine
from core.unit_of_work import Bookkeeping
from sandbox.acquirer import CardNetworkSimulator, UpiSimulator
from sandbox.acquirer.card_network_simulator import NetworkHandler, default_handler
from tests.fakes import FixedClock, SequentialIds
from tests.fakes.card_vault import MemoryCardVault
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory

MERCHANT = "acct_01jhf0000000000000000000aa"
OTHER_MERCHANT = "acct_01jhf0000000000000000000bb"
WEB_BASE_URL = "https://pay.example.test"


def secret_key(merchant_id: str = MERCHANT) -> Principal:
    return Principal(merchant_id=merchant_id, livemode=False, actor="key_secret", role=Role.ADMIN)


def publishable_key(merchant_id: str = MERCHANT) -> Principal:
    return Principal(
        merchant_id=merchant_id,
        livemode=False,
        actor="key_publishable",
        role=None,
        is_publishable=True,
    )


@dataclass
class World:
    clock: FixedClock
    uow: MemoryUnitOfWorkFactory
    vault: MemoryCardVault
    card_network: CardNetworkSimulator
    upi: UpiSimulator
    intents: PaymentIntents
    payments: PaymentLifecycle
    refunds: Refunds
    extra_acquirers: dict[str, Acquirer] = field(default_factory=dict)

    async def intent(
        self,
        amount: int = 2000,
        *,
        currency: str = "usd",
        manual: bool = False,
        types: tuple[str, ...] = ("card",),
        merchant_id: str = MERCHANT,
    ) -> PaymentIntent:
        return await self.intents.create(
            secret_key(merchant_id),
            CreatePaymentIntent(
                amount=amount,
                currency=currency,
                capture_method=CaptureMethod.MANUAL if manual else CaptureMethod.AUTOMATIC,
                payment_method_types=types,
            ),
        )

    def token(self, number: str = "4242424242424242", merchant_id: str = MERCHANT) -> str:
        return self.vault.add_token(merchant_id, number)

    async def confirm_card(
        self, intent: PaymentIntent, number: str = "4242424242424242"
    ) -> PaymentIntent:
        return await self.payments.confirm(
            secret_key(intent.merchant_id),
            intent.id,
            ConfirmPaymentIntent(payment_method=self.token(number, intent.merchant_id)),
        )

    async def paid(self, amount: int = 2000, *, manual: bool = False) -> PaymentIntent:
        return await self.confirm_card(await self.intent(amount, manual=manual))

    async def stored(self, intent_id: str, merchant_id: str = MERCHANT) -> PaymentIntent:
        async with self.uow() as uow:
            intent = await uow.payment_intents.get(merchant_id, intent_id)
        assert intent is not None
        return intent


def build_world(
    *,
    handler: NetworkHandler = default_handler,
    policy: PaymentPolicy | None = None,
    card_acquirer: Acquirer | None = None,
    risk: RiskEngine | None = None,
    backup: Acquirer | None = None,
    breakers: Breakers | None = None,
    by_method: dict[str, Acquirer] | None = None,
    books: Bookkeeping | None = None,
) -> World:
    """With `backup`, cards route to card_network first and fail over to it ("backup");
    `by_method` adds an acquirer per payment method type, named after it."""
    clock = FixedClock()
    ids = SequentialIds(clock)
    uow = MemoryUnitOfWorkFactory()
    vault = MemoryCardVault()
    card_network = CardNetworkSimulator(handler, challenge_base_url=WEB_BASE_URL, clock=clock)
    upi = UpiSimulator(approval_delay=0, collect_expiry=3600, clock=clock)
    cards = ZoneCards(vault, clock)
    acquirers: dict[str, Acquirer] = {
        "card_network": CardholderDataZone(card_acquirer or card_network, cards),
        "upi": upi,
    }
    card_route = ["card_network"]
    if backup is not None:
        acquirers["backup"] = CardholderDataZone(backup, cards)
        card_route.append("backup")
    routes: dict[str, str | list[str]] = {"card": card_route, "upi": "upi"}
    for method, acquirer in (by_method or {}).items():
        acquirers[method], routes[method] = acquirer, method
    router = StaticAcquirerRouter(acquirers, routes)
    return World(
        clock=clock,
        uow=uow,
        vault=vault,
        card_network=card_network,
        upi=upi,
        intents=PaymentIntents(uow, ids, clock),
        payments=PaymentLifecycle(
            uow,
            ids,
            clock,
            vault=vault,
            acquirers=router,
            policy=policy or PaymentPolicy(),
            risk=risk,
            breakers=breakers,
            books=books,
        ),
        refunds=Refunds(uow, ids, clock, acquirers=router),
    )


@pytest.fixture
async def world() -> AsyncIterator[World]:
    built = build_world()
    try:
        yield built
    finally:
        await built.upi.aclose()
        await asyncio.sleep(0)
