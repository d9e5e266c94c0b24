"""A merchant's shop for the confirm's contract tests: its intents and payments on a unit
of work (fake or PostgreSQL), a card vault and a card network whose hooks run another
call's change at a chosen moment of a confirm (tests/contract/test_confirm_*.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from adapters.acquirers.router import StaticAcquirerRouter
from adapters.system import RandomIds
from core.access.model import Principal
from core.access.roles import Role
from core.events.outbox import EventOutbox, PaymentOutbox, Recorders
from core.ledger.hooks import LedgerHooks
from core.ledger.payment_postings import LedgerBookkeeping
from core.ledger.terms_cache import TermsCache
from core.payments.acquirer import (
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    OperationResult,
)
from core.payments.lifecycle import PaymentLifecycle
from core.payments.model import AttemptStatus, PaymentIntent, Status
from core.payments.ports import CardProfile
from core.payments.use_cases import CreatePaymentIntent, PaymentIntents
from core.payments.zone import CardholderDataZone, ZoneCards
from core.shared.ports import Clock
from core.unit_of_work import Bookkeeping, UnitOfWorkFactory
from sandbox.acquirer import CardNetworkSimulator
from tests.fakes.card_vault import MemoryCardVault

Hook = Callable[[], Awaitable[None]]
S = TypeVar("S", bound="Shop")


class HookedVault(MemoryCardVault):
    """Runs `between_load_and_phase_1` while the confirm reads the card's profile: after
    its load, before its phase 1."""

    between_load_and_phase_1: Hook | None = None

    async def card_profile(
        self, merchant_id: str, payment_method: str, *, livemode: bool
    ) -> CardProfile:
        profile = await super().card_profile(merchant_id, payment_method, livemode=livemode)
        if (hook := self.between_load_and_phase_1) is not None:
            self.between_load_and_phase_1 = None
            await hook()
        return profile


class HookedNetwork(CardNetworkSimulator):
    """Runs `during_the_call` inside the authorization, `during_the_capture` inside a
    capture: after phase 1, before phase 3."""

    during_the_call: Hook | None = None
    during_the_capture: Hook | None = None

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        if (hook := self.during_the_call) is not None:
            self.during_the_call = None
            await hook()
        return await super().authorize(request)

    async def capture(self, request: CaptureRequest) -> OperationResult:
        if (hook := self.during_the_capture) is not None:
            self.during_the_capture = None
            await hook()
        return await super().capture(request)


class _Rendered:
    def render(self, obj: object) -> Mapping[str, Any]:
        return {"id": getattr(obj, "id", ""), "status": str(getattr(obj, "status", ""))}


def books_of(ids: RandomIds, clock: Clock) -> Recorders:
    """The ledger's bookkeeping and the outbox, as the gateway records a payment's moves."""
    return Recorders(
        LedgerBookkeeping(LedgerHooks(ids, TermsCache(clock))),
        PaymentOutbox(EventOutbox(ids, _Rendered())),
    )


@dataclass
class Shop:
    merchant_id: str
    uow: UnitOfWorkFactory
    clock: Clock
    vault: HookedVault
    network: HookedNetwork
    intents: PaymentIntents
    payments: PaymentLifecycle
    actor: str
    amount: int
    currency: str

    @property
    def key(self) -> Principal:
        return Principal(self.merchant_id, False, self.actor, Role.ADMIN)

    async def intent(self) -> PaymentIntent:
        return await self.intents.create(
            self.key, CreatePaymentIntent(amount=self.amount, currency=self.currency)
        )

    def token(self) -> str:
        """A card's token, valid for years after the shop's clock."""
        expiry = self.clock.now().year + 5
        return self.vault.add_token(self.merchant_id, "4242424242424242", exp_year=expiry)

    async def stored(self, intent_id: str) -> PaymentIntent:
        async with self.uow() as uow:
            intent = await uow.payment_intents.get(self.merchant_id, intent_id)
        assert intent is not None
        return intent

    async def attempts(self, intent_id: str) -> list[AttemptStatus]:
        async with self.uow() as uow:
            attempts = await uow.payment_attempts.for_intent(self.merchant_id, intent_id)
        return [a.status for a in attempts]

    async def written(self, intent_id: str) -> tuple[Any, ...]:
        """The intent, its attempts, its history, its ledger entries and the events."""
        async with self.uow() as uow:
            intent = await uow.payment_intents.get(self.merchant_id, intent_id)
            attempts = await uow.payment_attempts.for_intent(self.merchant_id, intent_id)
            lines = await uow.payment_events.for_intent(self.merchant_id, intent_id)
            entries = await uow.ledger.entries_for_payment(self.merchant_id, intent_id)
            events = await uow.events.list(self.merchant_id, False, limit=100)
        mine = [e.type for e in events if e.data.get("id") == intent_id]
        assert intent is not None
        return intent, [a.status for a in attempts], [x.to_status for x in lines], entries, mine

    async def history(self, intent_id: str) -> list[Status]:
        async with self.uow() as uow:
            events = await uow.payment_events.for_intent(self.merchant_id, intent_id)
        return [e.to_status for e in events]


def shop_of(
    kind: type[S],
    uow: UnitOfWorkFactory,
    merchant_id: str,
    clock: Clock,
    *,
    actor: str,
    amount: int,
    currency: str,
    books: Bookkeeping | None = None,
    ids: RandomIds | None = None,
) -> S:
    """A shop of `kind` (Shop or a test's own kind of it) on `uow`: its vault and network
    hooked, the network reached through the cardholder-data zone, `books` (the ledger,
    the outbox) when given; its intents of `amount` `currency`, made by `actor`."""
    ids = ids or RandomIds()
    vault = HookedVault()
    network = HookedNetwork(clock=clock)
    router = StaticAcquirerRouter(
        {"network": CardholderDataZone(network, ZoneCards(vault, clock))}, {"card": "network"}
    )
    return kind(
        merchant_id=merchant_id,
        uow=uow,
        clock=clock,
        vault=vault,
        network=network,
        intents=PaymentIntents(uow, ids, clock, books=books),
        payments=PaymentLifecycle(uow, ids, clock, vault=vault, acquirers=router, books=books),
        actor=actor,
        amount=amount,
        currency=currency,
    )
