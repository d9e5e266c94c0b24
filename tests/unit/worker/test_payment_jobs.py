"""The worker's payments jobs, wired as servers.roles.worker.jobs builds them, over the in-memory
application with a clock that stands still until a test moves it: each job finds what is
due and nothing else. (The use-cases themselves are tested in tests/unit/payments.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from core.access.model import Merchant, Principal
from core.access.roles import Role
from core.ledger.payment_postings import LedgerBookkeeping
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.model import (
    AttemptStatus,
    CaptureMethod,
    PaymentIntent,
    Refund,
    RefundStatus,
    Status,
)
from core.payments.use_cases import CreatePaymentIntent
from core.payments.zone import CardholderDataZone
from core.shared.secret import Secret
from core.vault.cards import CardInput
from sandbox.acquirer import UpiSimulator
from servers.bootstrap.app import UPI_SWITCH, App
from servers.roles.worker.jobs import RECOVERY_AFTER, UPI_POLL_AFTER, jobs
from servers.roles.worker.scheduler import Job
from servers.runtime.settings import Settings
from tests.fakes import FixedClock, SequentialIds, in_memory_app
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory

MERCHANT = "acct_01jhf0000000000000000000jb"
CALLER = Principal(MERCHANT, livemode=False, actor="key_jobs", role=Role.ADMIN)
TIMEOUT_CARD = "4000000000000408"  # the acquirer's answer is lost: PROCESSING


class World:
    def __init__(self, app: App, clock: FixedClock, uow: MemoryUnitOfWorkFactory) -> None:
        self.app = app
        self.clock = clock
        self.uow = uow
        self.jobs = {job.name: job for job in jobs(app, Settings())}

    async def run(self, name: str, limit: int = 100) -> int:
        job: Job = self.jobs[name]
        return await job.run(self.clock.now(), limit)

    async def intent(self, **fields: object) -> PaymentIntent:
        command = CreatePaymentIntent(amount=2000, currency="usd", **fields)  # type: ignore[arg-type]
        return await self.app.payment_intents.create(CALLER, command)

    async def confirm_card(self, intent: PaymentIntent, number: str) -> PaymentIntent:
        assert self.app.vault is not None
        card = CardInput(Secret(number), exp_month=12, exp_year=2040)
        token = await self.app.vault.tokenize_card(CALLER, card)
        return await self.app.payments.confirm(CALLER, intent.id, ConfirmPaymentIntent(token.id))

    async def upi_collect(self) -> PaymentIntent:
        intent = await self.app.payment_intents.create(
            CALLER,
            CreatePaymentIntent(amount=50000, currency="inr", payment_method_types=("upi",)),
        )
        # A VPA the switch has no plan for: it waits for the payer.
        return await self.app.payments.confirm(
            CALLER, intent.id, ConfirmPaymentIntent(upi_vpa="payer@okaxis")
        )

    async def stored(self, intent_id: str) -> PaymentIntent:
        return await self.app.payment_intents.get(CALLER, intent_id)

    def later(self, delta: timedelta) -> None:
        self.clock.at += delta


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FixedClock()
    uow = MemoryUnitOfWorkFactory()
    app = in_memory_app(uow, clock=clock, ids=SequentialIds(clock))
    async with uow() as unit:  # the merchant the UPI collect names
        await unit.merchants.add(Merchant(MERCHANT, "Jobs Ltd", clock.now()))
        await unit.commit()
    try:
        yield World(app, clock, uow)
    finally:
        await app.aclose()


def test_the_worker_runs_every_payments_job() -> None:
    app = in_memory_app()
    names = {job.name for job in jobs(app, Settings())}
    assert names >= {
        "payments.recover_stuck_attempts",
        "refunds.recover_stuck_refunds",
        "payments.expire_unconfirmed",
        "payments.void_expired_authorizations",
        "payments.poll_pending_actions",
    }


async def test_expire_unconfirmed_cancels_intents_older_than_an_hour(world: World) -> None:
    old = await world.intent()
    world.later(timedelta(minutes=50))
    young = await world.intent()
    world.later(timedelta(minutes=10, seconds=1))  # old: 1 h 1 s; young: 10 min 1 s
    assert await world.run("payments.expire_unconfirmed") == 1
    expired = await world.stored(old.id)
    assert (expired.status, expired.cancellation_reason) == (Status.CANCELED, "EXPIRED")
    assert (await world.stored(young.id)).status is Status.REQUIRES_PAYMENT_METHOD
    assert await world.run("payments.expire_unconfirmed") == 0


async def test_void_expired_authorizations_voids_after_seven_days(world: World) -> None:
    old = await world.confirm_card(
        await world.intent(capture_method=CaptureMethod.MANUAL), "4242424242424242"
    )
    world.later(timedelta(days=1))
    young = await world.confirm_card(
        await world.intent(capture_method=CaptureMethod.MANUAL), "4242424242424242"
    )
    assert old.status is young.status is Status.REQUIRES_CAPTURE
    world.later(timedelta(days=6, minutes=1))
    assert await world.run("payments.void_expired_authorizations") == 1
    voided = await world.stored(old.id)
    assert (voided.status, voided.cancellation_reason) == (Status.CANCELED, "VOIDED")
    assert voided.amount_capturable == 0
    assert (await world.stored(young.id)).status is Status.REQUIRES_CAPTURE


async def test_recover_stuck_attempts_asks_again_after_five_minutes(world: World) -> None:
    stuck = await world.confirm_card(await world.intent(), TIMEOUT_CARD)
    world.later(RECOVERY_AFTER - timedelta(minutes=1))
    recent = await world.confirm_card(await world.intent(), TIMEOUT_CARD)
    assert stuck.status is recent.status is Status.PROCESSING
    assert await world.run("payments.recover_stuck_attempts") == 0  # nothing is due yet
    world.later(timedelta(minutes=1, seconds=1))
    assert await world.run("payments.recover_stuck_attempts") == 1
    # The acquirer had approved it; the answer that was lost is recorded now.
    assert (await world.stored(stuck.id)).status is Status.SUCCEEDED
    assert (await world.stored(recent.id)).status is Status.PROCESSING


async def _pending_refund(world: World, intent: PaymentIntent) -> Refund:
    """Phase 1 of a refund whose acquirer call never answered: PENDING, amount reserved."""
    now = world.clock.now()
    refund = Refund(
        id=f"re_{intent.id[3:]}",
        merchant_id=MERCHANT,
        payment_intent_id=intent.id,
        attempt_id=intent.latest_attempt,
        amount=500,
        currency=intent.currency,
        status=RefundStatus.PENDING,
        created=now,
        updated_at=now,
    )
    async with world.uow() as uow:
        locked = await uow.payment_intents.get(MERCHANT, intent.id, for_update=True)
        assert locked is not None
        locked.reserve_refund(refund, actor="key_jobs", at=now)
        await uow.refunds.add(refund)
        await uow.payment_intents.update(locked)
        events = locked.pull_events()
        await uow.payment_events.append(events)
        # As Refunds.create does: the refund's money moves in the ledger in this transaction.
        await LedgerBookkeeping(world.app.ledger_hooks).record(uow, events)
        await uow.commit()
    return refund


async def test_recover_stuck_refunds_sends_them_again_after_five_minutes(world: World) -> None:
    paid = await world.confirm_card(await world.intent(), "4242424242424242")
    other = await world.confirm_card(await world.intent(), "4242424242424242")
    stuck = await _pending_refund(world, paid)
    world.later(RECOVERY_AFTER - timedelta(seconds=1))
    recent = await _pending_refund(world, other)
    world.later(timedelta(seconds=2))
    assert await world.run("refunds.recover_stuck_refunds") == 1
    assert (await world.app.refunds.get(CALLER, stuck.id)).status is RefundStatus.SUCCEEDED
    assert (await world.app.refunds.get(CALLER, recent.id)).status is RefundStatus.PENDING


async def test_the_upi_poller_settles_collects_whose_callback_never_came(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone = world.app.payments._acquirers.acquirer(UPI_SWITCH).inner  # type: ignore[attr-defined]
    assert isinstance(zone, CardholderDataZone)
    switch = zone.connector
    assert isinstance(switch, UpiSimulator)
    monkeypatch.setattr(switch, "_on_complete", None)  # the switch's callbacks get lost
    due = await world.upi_collect()
    world.later(UPI_POLL_AFTER - timedelta(seconds=2))
    young = await world.upi_collect()
    assert due.status is young.status is Status.REQUIRES_ACTION
    for intent in (due, young):  # both payers approve in their UPI app
        await switch.complete_challenge(intent.latest_attempt, True)
    world.later(timedelta(seconds=3))  # due: waiting 6 s; young: 3 s

    assert await world.run("payments.poll_pending_actions") == 1
    assert (await world.stored(due.id)).status is Status.SUCCEEDED
    assert (await world.stored(young.id)).status is Status.REQUIRES_ACTION
    assert await world.run("payments.poll_pending_actions") == 0  # young is not due yet
    world.later(UPI_POLL_AFTER)
    assert await world.run("payments.poll_pending_actions") == 1
    assert (await world.stored(young.id)).status is Status.SUCCEEDED


async def test_the_upi_poller_leases_what_is_still_pending(world: World) -> None:
    waiting = await world.upi_collect()
    world.later(UPI_POLL_AFTER + timedelta(seconds=1))
    assert (
        await world.run("payments.poll_pending_actions") == 1
    )  # asked: the payer has not acted yet
    assert (await world.stored(waiting.id)).status is Status.REQUIRES_ACTION
    assert (
        await world.run("payments.poll_pending_actions") == 0
    )  # leased for another UPI_POLL_AFTER
    world.later(UPI_POLL_AFTER + timedelta(seconds=1))
    assert await world.run("payments.poll_pending_actions") == 1


async def test_the_card_challenges_are_not_polled(world: World) -> None:
    challenged = await world.confirm_card(await world.intent(), "4000002760003184")
    assert challenged.status is Status.REQUIRES_ACTION
    world.later(timedelta(hours=1))
    assert await world.run("payments.poll_pending_actions") == 0
    async with world.uow() as uow:
        attempt = await uow.payment_attempts.get(challenged.latest_attempt)
    assert attempt is not None and attempt.status is AttemptStatus.REQUIRES_ACTION
