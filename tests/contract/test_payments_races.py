"""Races on a real PostgreSQL: row locks keep money where it belongs.

The use-cases run against the session database with the simulators (a small latency, so
calls really overlap). Claims (expiry, recovery) pick rows of every merchant older than a
cutoff, oldest first; the world's clock stands in 2150, so these tests' cutoffs come after
every other test's rows, and their limits are large enough to get past those rows to
their own. (The claim contract tests date their rows in the 1970s for the same reason.)
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from adapters.acquirers.router import StaticAcquirerRouter
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.access.model import Principal
from core.access.roles import Role
from core.payments.lifecycle import ConfirmPaymentIntent, PaymentLifecycle
from core.payments.model import (
    AttemptStatus,
    CaptureMethod,
    PaymentIntent,
    RefundStatus,
    Status,
)
from core.payments.refunds import CreateRefund, Refunds
from core.payments.use_cases import CreatePaymentIntent, PaymentIntents
from core.payments.zone import CardholderDataZone, ZoneCards
from core.shared.errors import FailedPrecondition
from sandbox.acquirer import CardNetworkSimulator, UpiSimulator
from tests.contract.helpers import add_merchant
from tests.fakes import FixedClock
from tests.fakes.card_vault import MemoryCardVault

LATENCY = 0.002
ERA = datetime(2150, 1, 1, tzinfo=UTC)
BIG = 100_000  # claim limit: other tests' leftovers are older and come first


@dataclass
class Shop:
    merchant_id: str
    clock: FixedClock
    uow: SqlUnitOfWorkFactory
    vault: MemoryCardVault
    network: CardNetworkSimulator
    intents: PaymentIntents
    payments: PaymentLifecycle
    refunds: Refunds

    @property
    def key(self) -> Principal:
        return Principal(self.merchant_id, False, "key_race", Role.ADMIN)

    async def authorized(
        self, amount: int, *, manual: bool, number: str = "4242424242424242"
    ) -> PaymentIntent:
        intent = await self.intents.create(
            self.key,
            CreatePaymentIntent(
                amount=amount,
                currency="eur",
                capture_method=CaptureMethod.MANUAL if manual else CaptureMethod.AUTOMATIC,
            ),
        )
        token = self.token(number)
        return await self.payments.confirm(
            self.key, intent.id, ConfirmPaymentIntent(payment_method=token)
        )

    def token(self, number: str = "4242424242424242") -> str:
        return self.vault.add_token(self.merchant_id, number, exp_year=ERA.year + 3)

    async def stored(self, intent_id: str) -> PaymentIntent:
        async with self.uow() as uow:
            intent = await uow.payment_intents.get(self.merchant_id, intent_id)
        assert intent is not None
        return intent


@pytest.fixture
async def shop(uow_factory: SqlUnitOfWorkFactory, ids: RandomIds) -> AsyncIterator[Shop]:
    clock = FixedClock(ERA)
    network = CardNetworkSimulator(latency=LATENCY, clock=clock)
    upi = UpiSimulator(latency=LATENCY, clock=clock)
    vault = MemoryCardVault()
    router = StaticAcquirerRouter(
        {"network": CardholderDataZone(network, ZoneCards(vault, clock)), "upi": upi},
        {"card": "network", "upi": "upi"},
    )
    merchant_id = await add_merchant(uow_factory, ids)
    yield Shop(
        merchant_id=merchant_id,
        clock=clock,
        uow=uow_factory,
        vault=vault,
        network=network,
        intents=PaymentIntents(uow_factory, ids, clock),
        payments=PaymentLifecycle(uow_factory, ids, clock, vault=vault, acquirers=router),
        refunds=Refunds(uow_factory, ids, clock, acquirers=router),
    )
    await upi.aclose()


def only_refusals(results: list[object], *reasons: str) -> list[object]:
    """The successes; asserts every failure is a FailedPrecondition with one of `reasons`."""
    for result in results:
        if isinstance(result, BaseException):
            assert isinstance(result, FailedPrecondition), repr(result)
            assert result.reason in reasons, result.reason
    return [r for r in results if not isinstance(r, BaseException)]


async def test_fifty_concurrent_refunds_never_exceed_the_captured_amount(shop: Shop) -> None:
    paid = await shop.authorized(10_000, manual=False)
    assert paid.status is Status.SUCCEEDED
    amounts = [random.Random(7).randint(100, 600) + i for i in range(50)]
    assert sum(amounts) > 10_000

    results = await asyncio.gather(
        *(
            shop.refunds.create(shop.key, CreateRefund(payment_intent=paid.id, amount=amount))
            for amount in amounts
        ),
        return_exceptions=True,
    )
    made = only_refusals(results, "AMOUNT_TOO_LARGE", "CHARGE_ALREADY_REFUNDED")
    assert 0 < len(made) < 50
    refunded = sum(r.amount for r in made)  # type: ignore[attr-defined]
    assert all(r.status is RefundStatus.SUCCEEDED for r in made)  # type: ignore[attr-defined]
    assert refunded <= 10_000

    intent = await shop.stored(paid.id)
    assert intent.amount_refunded == refunded
    page = await shop.refunds.list(shop.key, payment_intent=paid.id, limit=100)
    assert sum(r.amount for r in page.data) == refunded
    assert shop.network._records[intent.latest_attempt].refunded == refunded
    async with shop.uow() as uow:
        events = await uow.payment_events.for_intent(shop.merchant_id, paid.id)
    assert sum(e.amount or 0 for e in events if e.kind.value == "REFUND_SUCCEEDED") == refunded


async def test_capture_racing_cancel_one_wins(shop: Shop) -> None:
    for round_ in range(8):
        held = await shop.authorized(5_000, manual=True)
        capture = shop.payments.capture(shop.key, held.id, 3_000 + round_)
        cancel = shop.payments.cancel(shop.key, held.id, "abandoned")
        order = (capture, cancel) if round_ % 2 else (cancel, capture)
        results = await asyncio.gather(*order, return_exceptions=True)
        [winner] = only_refusals(list(results), "PAYMENT_INTENT_UNEXPECTED_STATE")
        intent = await shop.stored(held.id)
        assert intent == winner
        books = shop.network._records[intent.latest_attempt]
        if intent.status is Status.SUCCEEDED:
            assert (intent.amount_received, books.captured) == (3_000 + round_,) * 2
            assert books.void is None
        else:
            assert intent.status is Status.CANCELED
            assert (intent.amount_received, books.captured) == (0, 0)
            assert books.void is not None
        assert intent.amount_capturable == 0


async def test_concurrent_captures_capture_once(shop: Shop) -> None:
    held = await shop.authorized(4_000, manual=True)
    results = await asyncio.gather(
        *(shop.payments.capture(shop.key, held.id, 1_000 * n) for n in (1, 2, 3, 4)),
        return_exceptions=True,
    )
    [winner] = only_refusals(list(results), "PAYMENT_INTENT_UNEXPECTED_STATE")
    intent = await shop.stored(held.id)
    assert intent.status is Status.SUCCEEDED
    assert intent.amount_received == winner.amount_received <= 4_000  # type: ignore[attr-defined]
    assert shop.network._records[intent.latest_attempt].captured == intent.amount_received


async def test_concurrent_confirms_authorize_once(shop: Shop) -> None:
    intent = await shop.intents.create(shop.key, CreatePaymentIntent(amount=1_500, currency="eur"))
    tokens = [shop.token() for _ in range(6)]
    results = await asyncio.gather(
        *(
            shop.payments.confirm(shop.key, intent.id, ConfirmPaymentIntent(payment_method=t))
            for t in tokens
        ),
        return_exceptions=True,
    )
    [winner] = only_refusals(list(results), "PAYMENT_INTENT_UNEXPECTED_STATE")
    assert winner.status is Status.SUCCEEDED  # type: ignore[attr-defined]
    async with shop.uow() as uow:
        attempts = await uow.payment_attempts.for_intent(shop.merchant_id, intent.id)
    assert [a.status for a in attempts] == [AttemptStatus.CAPTURED]
    assert sum(r.result.outcome.value == "APPROVED" for r in shop.network._records.values()) == 1


async def test_racing_recovery_workers_settle_each_attempt_once(shop: Shop) -> None:
    stuck = [
        await shop.authorized(700 + n, manual=True, number="4000000000000408") for n in range(6)
    ]
    assert {i.status for i in stuck} == {Status.PROCESSING}
    shop.clock.advance(minutes=10)
    claims = await asyncio.gather(
        *(shop.payments.recover_stuck_attempts(timedelta(minutes=5), limit=BIG) for _ in range(3))
    )
    claimed = [attempt for claim in claims for attempt in claim]
    assert len(claimed) == len(set(claimed))  # never the same attempt twice
    assert {i.latest_attempt for i in stuck} <= set(claimed)
    for intent in stuck:
        stored = await shop.stored(intent.id)
        assert (stored.status, stored.amount_capturable) == (Status.REQUIRES_CAPTURE, intent.amount)
        async with shop.uow() as uow:
            events = await uow.payment_events.for_intent(shop.merchant_id, intent.id)
        assert [e.to_status for e in events].count(Status.REQUIRES_CAPTURE) == 1


async def test_expiry_racing_confirm_never_does_both(shop: Shop) -> None:
    intents = [
        await shop.intents.create(shop.key, CreatePaymentIntent(amount=900, currency="eur"))
        for _ in range(5)
    ]
    shop.clock.advance(hours=2)
    confirms = [
        shop.payments.confirm(
            shop.key,
            i.id,
            ConfirmPaymentIntent(payment_method=shop.token()),
        )
        for i in intents
    ]
    results = await asyncio.gather(
        shop.payments.expire_unconfirmed(limit=BIG), *confirms, return_exceptions=True
    )
    expired = results[0]
    assert isinstance(expired, list)
    only_refusals(list(results[1:]), "PAYMENT_INTENT_UNEXPECTED_STATE")
    for intent in intents:
        stored = await shop.stored(intent.id)
        if intent.id in expired:
            assert stored.status is Status.CANCELED and stored.amount_received == 0
            assert stored.attempts == 0
        else:
            assert stored.status is Status.SUCCEEDED
