"""The outbox and the delivery worker over the in-memory unit of work and a fake sender."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import timedelta

import pytest
import stripe

from adapters.system import SystemClock
from core.access.model import Principal
from core.access.roles import Role
from core.events.delivery import EventBody, WebhookDispatcher
from core.events.model import Claimed, DeliveryStatus, SignatureScheme, WebhookPolicy
from core.events.ports import SendResult
from core.events.ssrf import Destination, UrlGuard, UrlPolicy
from core.events.use_cases import EndpointSettings
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.refunds import CreateRefund
from core.payments.use_cases import CreatePaymentIntent
from core.shared.errors import FailedPrecondition, InvalidArgument
from core.shared.ports import Clock
from servers.bootstrap.app import App
from servers.runtime.settings import Settings
from servers.stripe import render as stripe_render
from tests.fakes import FixedClock, SequentialIds, in_memory_app
from tests.fakes.card_vault import MemoryCardVault
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory

HOOK = "http://127.0.0.1:9/hooks"


class FakeSender:
    """Answers from a script, one answer per request, and remembers what it was sent."""

    def __init__(self, answers: Sequence[SendResult] = ()) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, Mapping[str, str], bytes]] = []

    async def send(
        self, destination: Destination, headers: Mapping[str, str], body: bytes, within: float
    ) -> SendResult:
        self.sent.append((str(destination.address), headers, body))
        return self.answers.pop(0) if self.answers else SendResult(200, "ok", 1)


@dataclasses.dataclass
class World:
    app: App
    clock: FixedClock
    merchant: Principal
    sender: FakeSender
    uow: MemoryUnitOfWorkFactory
    ids: SequentialIds

    def dispatcher(
        self,
        policy: WebhookPolicy | None = None,
        bodies: Mapping[SignatureScheme, EventBody] | None = None,
    ) -> WebhookDispatcher:
        return WebhookDispatcher(
            self.uow,
            self.ids,
            self.clock,
            sender=self.sender,
            guard=self.app.webhook_endpoints._guard,
            outbox=self.app.event_outbox,
            policy=policy or self.app.event_outbox.policy,
            bodies=bodies,
        )

    async def pay(self, amount: int = 1000, number: str = "4242424242424242") -> str:
        intent = await self.app.payment_intents.create(
            self.merchant, CreatePaymentIntent(amount=amount, currency="USD")
        )
        vault = self.app.card_vault
        assert isinstance(vault, MemoryCardVault)
        token = vault.add_token(self.merchant.merchant_id, number)
        with contextlib.suppress(FailedPrecondition):
            await self.app.payments.confirm(self.merchant, intent.id, ConfirmPaymentIntent(token))
        return intent.id

    async def types(self) -> list[str]:
        page = await self.app.events.list(self.merchant, limit=100)
        return [e.type for e in reversed(page.data)]


@pytest.fixture
async def world() -> World:
    clock = FixedClock()
    uow = MemoryUnitOfWorkFactory()
    settings = Settings(
        upi_approval_delay=0,
        webhook_allowed_networks="127.0.0.1/32",
        webhook_retry_schedule="0,5,60",
    )
    app = in_memory_app(
        uow, settings=settings, card_vault=MemoryCardVault(), clock=clock, ids=SequentialIds(clock)
    )
    seeded = await app.api_keys.seed_merchant("Shop")
    merchant = Principal(seeded.merchant.id, False, "key_test", Role.OWNER)
    return World(app, clock, merchant, FakeSender(), uow, SequentialIds(clock))


async def test_a_payment_tells_each_transition_with_the_intent_as_the_api_renders_it(
    world: World,
) -> None:
    intent_id = await world.pay()
    assert await world.types() == [
        "payment_intent.created",
        "payment_intent.processing",
        "payment_intent.succeeded",
    ]
    page = await world.app.events.list(world.merchant, types=["payment_intent.succeeded"], limit=10)
    (event,) = page.data
    obj = event.data
    assert obj["id"] == intent_id and obj["object"] == "payment_intent"
    assert obj["status"] == "SUCCEEDED"
    assert obj["amount"] == "1000" and obj["amount_received"] == "1000"  # int64: a string
    assert "4242424242424242" not in str(event.envelope())


async def test_declines_refunds_and_cancels_fire_their_types(world: World) -> None:
    paid = await world.pay()
    await world.pay(number="4000000000000002")
    await world.app.refunds.create(world.merchant, CreateRefund(paid, amount=300))
    created = await world.app.payment_intents.create(
        world.merchant, CreatePaymentIntent(amount=5, currency="USD")
    )
    await world.app.payments.cancel(world.merchant, created.id)
    types = await world.types()
    for expected in (
        "payment_intent.payment_failed",
        "refund.created",
        "charge.refunded",
        "refund.updated",
        "payment_intent.canceled",
    ):
        assert expected in types
    refund_event = (
        await world.app.events.list(world.merchant, types=["refund.created"], limit=1)
    ).data[0]
    assert refund_event.data["object"] == "refund" and refund_event.data["amount"] == "300"


async def test_the_workers_changes_have_events_too(world: World) -> None:
    created = await world.app.payment_intents.create(
        world.merchant, CreatePaymentIntent(amount=5, currency="USD")
    )
    world.clock.advance(hours=2)
    assert await world.app.payments.expire_unconfirmed() == [created.id]
    (canceled,) = (
        await world.app.events.list(world.merchant, types=["payment_intent.canceled"])
    ).data
    assert canceled.data["cancellation_reason"] == "EXPIRED"
    assert canceled.request.id == ""  # no API request behind it


async def test_a_refused_change_writes_no_event(world: World) -> None:
    paid = await world.pay()
    before = await world.types()
    with pytest.raises(FailedPrecondition):
        await world.app.refunds.create(world.merchant, CreateRefund(paid, amount=5000))
    assert await world.types() == before


async def test_an_endpoint_gets_a_delivery_per_event_it_wants(world: World) -> None:
    endpoints = world.app.webhook_endpoints
    everything = await endpoints.create(
        world.merchant, EndpointSettings(url=HOOK, enabled_events=("*",))
    )
    some = await endpoints.create(
        world.merchant,
        EndpointSettings(url=HOOK, enabled_events=("payment_intent.succeeded",)),
    )
    assert everything.secret.startswith("whsec_")
    await world.pay()
    outcomes = await world.dispatcher().run_once()
    assert len(outcomes) == 4
    sent_ids = [headers["webhook-id"] for _, headers, _ in world.sender.sent]
    assert len(set(sent_ids)) == 3  # three events; the succeeded one twice (two endpoints)
    assert all(o.delivery and o.delivery.status is DeliveryStatus.SUCCEEDED for o in outcomes)
    log = await endpoints.deliveries(world.merchant, endpoint_id=some.endpoint.id)
    (only,) = log.data
    assert only.attempts[0].status_code == 200
    assert only.attempts[0].request_headers["webhook-signature"] == "(1 signature)"


async def test_failures_retry_on_the_schedule_then_succeed(world: World) -> None:
    created = await world.app.webhook_endpoints.create(
        world.merchant, EndpointSettings(url=HOOK, enabled_events=("payment_intent.created",))
    )
    world.sender.answers = [SendResult(500, "boom", 3), SendResult(0, "", 10, error="timed out")]
    await world.app.payment_intents.create(
        world.merchant, CreatePaymentIntent(amount=5, currency="USD")
    )
    dispatcher = world.dispatcher(WebhookPolicy(schedule=(0, 5, 60), jitter=0))
    assert len(await dispatcher.run_once()) == 1
    assert await dispatcher.run_once() == []  # not due yet
    world.clock.advance(seconds=5)
    (second,) = await dispatcher.run_once()
    assert second.delivery is not None and second.delivery.status is DeliveryStatus.PENDING
    world.clock.advance(seconds=60)
    (third,) = await dispatcher.run_once()
    assert third.delivery is not None and third.delivery.status is DeliveryStatus.SUCCEEDED
    ids = {h["webhook-id"] for _, h, _ in world.sender.sent}
    assert len(ids) == 1  # the same webhook-id on every retry
    log = await world.app.webhook_endpoints.deliveries(
        world.merchant, endpoint_id=created.endpoint.id
    )
    assert [a.status_code for a in log.data[0].attempts] == [500, 0, 200]
    assert log.data[0].attempts[1].error == "timed out"


async def test_a_spent_schedule_fails_the_delivery_and_replay_sends_it_again(
    world: World,
) -> None:
    created = await world.app.webhook_endpoints.create(
        world.merchant, EndpointSettings(url=HOOK, enabled_events=("*",))
    )
    start = world.clock.now()
    world.sender.answers = [SendResult(500, "", 1)] * 2
    await world.app.payment_intents.create(
        world.merchant, CreatePaymentIntent(amount=5, currency="USD")
    )
    dispatcher = world.dispatcher(WebhookPolicy(schedule=(0, 1), jitter=0))
    await dispatcher.run_once()
    world.clock.advance(seconds=1)
    (last,) = await dispatcher.run_once()
    assert last.delivery is not None and last.delivery.status is DeliveryStatus.FAILED
    assert await world.app.webhook_endpoints.replay(world.merchant, created.endpoint.id, start) == 1
    (again,) = await dispatcher.run_once()
    assert again.delivery is not None and again.delivery.status is DeliveryStatus.SUCCEEDED
    failed = await world.app.events.list(world.merchant, delivery_success=False)
    assert failed.data == []


async def test_410_disables_the_endpoint_and_an_event_says_so(world: World) -> None:
    gone = await world.app.webhook_endpoints.create(
        world.merchant, EndpointSettings(url=HOOK, enabled_events=("*",))
    )
    watcher = await world.app.webhook_endpoints.create(
        world.merchant, EndpointSettings(url=HOOK, enabled_events=("webhook_endpoint.disabled",))
    )
    world.sender.answers = [SendResult(410, "gone", 1)]
    await world.app.payment_intents.create(
        world.merchant, CreatePaymentIntent(amount=5, currency="USD")
    )
    (outcome,) = await world.dispatcher().run_once()
    assert outcome.delivery is not None and outcome.delivery.status is DeliveryStatus.FAILED
    endpoint = await world.app.webhook_endpoints.get(world.merchant, gone.endpoint.id)
    assert endpoint.disabled and "410" in endpoint.disabled_reason
    (disabled,) = (
        await world.app.events.list(world.merchant, types=["webhook_endpoint.disabled"])
    ).data
    assert disabled.data["id"] == gone.endpoint.id and "secret" in disabled.data
    assert disabled.data["secret"] == ""  # never the secret
    (told,) = await world.dispatcher().run_once()
    assert told.attempt.endpoint_id == watcher.endpoint.id


async def test_retry_after_is_honoured(world: World) -> None:
    await world.app.webhook_endpoints.create(
        world.merchant, EndpointSettings(url=HOOK, enabled_events=("*",))
    )
    world.sender.answers = [SendResult(429, "", 1, retry_after=120)]
    await world.app.payment_intents.create(
        world.merchant, CreatePaymentIntent(amount=5, currency="USD")
    )
    (first,) = await world.dispatcher(WebhookPolicy(schedule=(0, 5, 5), jitter=0)).run_once()
    assert first.delivery is not None and first.delivery.next_attempt_at is not None
    assert first.delivery.next_attempt_at - world.clock.now() == timedelta(seconds=120)


async def test_an_endpoint_failing_for_five_days_is_disabled(world: World) -> None:
    created = await world.app.webhook_endpoints.create(
        world.merchant, EndpointSettings(url=HOOK, enabled_events=("payment_intent.created",))
    )
    world.sender.answers = [SendResult(500, "", 1)] * 10
    dispatcher = world.dispatcher(WebhookPolicy(schedule=(0,) * 5, jitter=0))
    for _ in range(2):
        await world.app.payment_intents.create(
            world.merchant, CreatePaymentIntent(amount=5, currency="USD")
        )
        await dispatcher.run_once()
        world.clock.advance(days=5)
    endpoint = await world.app.webhook_endpoints.get(world.merchant, created.endpoint.id)
    assert endpoint.disabled and "5 days" in endpoint.disabled_reason


async def test_a_result_under_a_lost_lease_is_logged_but_changes_nothing(world: World) -> None:
    await world.app.webhook_endpoints.create(
        world.merchant, EndpointSettings(url=HOOK, enabled_events=("*",))
    )
    await world.app.payment_intents.create(
        world.merchant, CreatePaymentIntent(amount=5, currency="USD")
    )
    first = world.dispatcher()
    (claimed,) = await first.claim(10)
    world.clock.advance(seconds=first.policy.lease.total_seconds() + 1)  # "killed"
    (taken,) = await world.dispatcher().claim(10)
    assert taken.delivery.id == claimed.delivery.id and taken.delivery.attempts == 2
    late = await first.deliver(claimed)
    assert late.delivery is None
    done = await world.dispatcher().deliver(taken)
    assert done.delivery is not None and done.delivery.status is DeliveryStatus.SUCCEEDED


async def test_a_hostile_url_is_refused_at_creation(world: World) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await world.app.webhook_endpoints.create(
            world.merchant,
            EndpointSettings(url="http://169.254.169.254/", enabled_events=("*",)),
        )
    assert refused.value.violations[0].field == "url"
    with pytest.raises(InvalidArgument):
        await world.app.webhook_endpoints.create(
            world.merchant, EndpointSettings(url=HOOK, enabled_events=("payment.nope",))
        )


async def test_rotation_signs_with_both_secrets_until_the_overlap_ends(world: World) -> None:
    created = await world.app.webhook_endpoints.create(
        world.merchant, EndpointSettings(url=HOOK, enabled_events=("*",))
    )
    rotated = await world.app.webhook_endpoints.rotate_secret(
        world.merchant, created.endpoint.id, timedelta(hours=1)
    )
    assert rotated.secret != created.secret
    await world.app.payment_intents.create(
        world.merchant, CreatePaymentIntent(amount=5, currency="USD")
    )
    await world.dispatcher().run_once()
    assert len(world.sender.sent[-1][1]["webhook-signature"].split()) == 2
    world.clock.advance(hours=2)
    await world.app.payment_intents.create(
        world.merchant, CreatePaymentIntent(amount=6, currency="USD")
    )
    await world.dispatcher().run_once()
    assert len(world.sender.sent[-1][1]["webhook-signature"].split()) == 1


async def test_events_are_pruned_after_thirty_days(world: World) -> None:
    await world.app.payment_intents.create(
        world.merchant, CreatePaymentIntent(amount=5, currency="USD")
    )
    world.clock.advance(days=31)
    assert await world.app.event_maintenance.prune() == 1
    assert (await world.app.events.list(world.merchant)).data == []


async def test_disputes_settlements_and_payouts_fire_their_events(world: World) -> None:
    await world.pay(number="4000000000000259")  # approved, then disputed
    opened = (await world.app.disputes.ingest(world.app.dispute_feed)).opened
    assert len(opened) == 1
    world.clock.advance(days=3)
    day = world.clock.now().date()
    world.clock.advance(hours=1)
    await world.app.settlement_batch.run_settlement(day, world.clock.now())
    await world.app.disputes.resolve_due_disputes(world.clock.now() + timedelta(days=60))
    types = await world.types()
    for expected in ("charge.dispute.created", "settlement.completed", "charge.dispute.closed"):
        assert expected in types, types
    (dispute,) = (
        await world.app.events.list(world.merchant, types=["charge.dispute.created"])
    ).data
    assert dispute.data["object"] == "dispute" and dispute.data["id"] == opened[0].id


async def test_the_url_is_checked_again_before_every_attempt(world: World) -> None:
    await world.app.webhook_endpoints.create(
        world.merchant, EndpointSettings(url=HOOK, enabled_events=("*",))
    )
    await world.app.payment_intents.create(
        world.merchant, CreatePaymentIntent(amount=5, currency="USD")
    )
    # The operator withdrew 127.0.0.1/32 from the allowed networks since the endpoint was made.
    strict = WebhookDispatcher(
        world.uow,
        world.ids,
        world.clock,
        sender=world.sender,
        guard=UrlGuard(UrlPolicy(()), world.app.webhook_endpoints._guard._resolver),
        outbox=world.app.event_outbox,
    )
    (refused,) = await strict.run_once()
    assert world.sender.sent == []  # no connection was attempted
    assert refused.attempt.status_code == 0 and "URL refused" in refused.attempt.error
    assert refused.delivery is not None and refused.delivery.status is DeliveryStatus.PENDING


async def test_3ds_completion_and_the_upi_poller_fire_events_without_a_request(
    world: World,
) -> None:
    challenged = await world.pay(number="4000002760003184")
    intent = await world.app.payment_intents.get(world.merchant, challenged)
    await world.app.payments.complete_action(intent.latest_attempt, True)

    upi = await world.app.payment_intents.create(
        world.merchant,
        CreatePaymentIntent(amount=49900, currency="inr", payment_method_types=["upi"]),
    )
    await world.app.payments.confirm(
        world.merchant, upi.id, ConfirmPaymentIntent(upi_vpa="success@upi")
    )
    for _ in range(50):  # the switch settles on its own; the poller asks it
        world.clock.advance(seconds=10)
        await world.app.payments.poll_pending_actions(timedelta(seconds=5))
        now = await world.app.payment_intents.get(world.merchant, upi.id)
        if now.status.value == "SUCCEEDED":
            break
        await asyncio.sleep(0.01)

    for intent_id in (challenged, upi.id):
        events = [
            e
            for e in reversed((await world.app.events.list(world.merchant, limit=100)).data)
            if e.data["id"] == intent_id
        ]
        types = [e.type for e in events]
        assert "payment_intent.requires_action" in types
        assert types[-1] == "payment_intent.succeeded", types
        assert events[-1].request.id == ""  # the payer's or the worker's doing, no API call


async def test_an_endpoint_with_stripes_scheme_gets_stripe_signature_and_stripes_shape(
    world: World,
) -> None:
    created = await world.app.webhook_endpoints.create(
        world.merchant,
        EndpointSettings(
            url=HOOK,
            enabled_events=("payment_intent.succeeded",),
            signature_scheme=SignatureScheme.STRIPE,
        ),
    )
    standard = await world.app.webhook_endpoints.create(
        world.merchant, EndpointSettings(url=HOOK, enabled_events=("payment_intent.succeeded",))
    )
    intent_id = await world.pay(amount=4200)
    dispatcher = world.dispatcher(bodies={SignatureScheme.STRIPE: stripe_render.webhook_body})
    outcomes = await dispatcher.run_once()
    assert len(outcomes) == 2
    by_scheme = {
        "stripe-signature" in headers: (headers, body) for _, headers, body in world.sender.sent
    }
    headers, body = by_scheme[True]
    assert "webhook-signature" not in headers
    event = stripe.Webhook.construct_event(
        body, headers["stripe-signature"], created.secret, tolerance=None
    )
    assert event.type == "payment_intent.succeeded"
    obj = event.data.object
    assert (obj["id"], obj["object"], obj["amount"], obj["status"]) == (
        intent_id,
        "payment_intent",
        4200,
        "succeeded",
    )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            body, headers["stripe-signature"], standard.secret, tolerance=None
        )
    # The delivery log keeps no signature.
    assert all(
        "v1=" not in str(o.attempt.request_headers.get("stripe-signature", "")) for o in outcomes
    )
    headers, body = by_scheme[False]
    assert headers["webhook-signature"].startswith("v1,")
    assert b'"status":"SUCCEEDED"' in body  # the API's own rendering


class ToldWakeups:
    """DeliveryWakeups told by the test: `tell()` is a notification arriving."""

    def __init__(self, listening: bool = True) -> None:
        self.listening = listening
        self._wake: list[Callable[[], None]] = []

    def follow(self, wake: Callable[[], None]) -> None:
        self._wake.append(wake)

    def tell(self) -> None:
        for wake in self._wake:
            wake()


class CountedClaims(WebhookDispatcher):
    """Counts its claims, and sets `claimed` after each."""

    claims = 0
    claimed: asyncio.Event

    async def claim(self, limit: int) -> list[Claimed]:
        found = await super().claim(limit)
        self.claims += 1
        self.claimed.set()
        return found


def counted(
    world: World, policy: WebhookPolicy | None = None, clock: Clock | None = None
) -> CountedClaims:
    dispatcher = CountedClaims(
        world.uow,
        world.ids,
        clock or world.clock,
        sender=world.sender,
        guard=world.app.webhook_endpoints._guard,
        outbox=world.app.event_outbox,
        policy=policy or world.app.event_outbox.policy,
    )
    dispatcher.claimed = asyncio.Event()
    return dispatcher


@contextlib.asynccontextmanager
async def running(
    dispatcher: WebhookDispatcher, wakeups: ToldWakeups | None, idle_seconds: float
) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(
        dispatcher.run(
            stop, idle_seconds=idle_seconds, wakeups=wakeups, listening_idle_seconds=3600
        )
    )
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def turns(n: int = 50) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_listening_dispatcher_claims_when_told_not_on_every_turn(world: World) -> None:
    await world.app.webhook_endpoints.create(
        world.merchant, EndpointSettings(url=HOOK, enabled_events=("payment_intent.created",))
    )
    # Without a feed, an idle dispatcher claims again every idle_seconds (0 here: every turn).
    polling = counted(world)
    async with running(polling, None, idle_seconds=0):
        await turns()
    assert polling.claims > 3
    # A feed that is not listening changes nothing.
    deaf = counted(world)
    async with running(deaf, ToldWakeups(listening=False), idle_seconds=0):
        await turns()
    assert deaf.claims > 3

    wakeups = ToldWakeups()
    dispatcher = counted(world)
    async with running(dispatcher, wakeups, idle_seconds=0):
        await dispatcher.claimed.wait()
        await turns()
        assert dispatcher.claims == 1  # idle: it waits to be told
        await world.app.payment_intents.create(
            world.merchant, CreatePaymentIntent(amount=5, currency="USD")
        )
        dispatcher.claimed.clear()
        wakeups.tell()  # the insert's notification
        await dispatcher.claimed.wait()
        for _ in range(100):
            if world.sender.sent:
                break
            await asyncio.sleep(0)
        assert len(world.sender.sent) == 1
        assert dispatcher.claims == 2


async def test_a_listening_dispatcher_claims_the_retry_it_scheduled_when_due(
    world: World,
) -> None:
    """No notification is waited for: the dispatcher that scheduled a retry wakes for it
    (its own clock here is the system's, so that the retry comes due)."""
    created = await world.app.webhook_endpoints.create(
        world.merchant, EndpointSettings(url=HOOK, enabled_events=("payment_intent.created",))
    )
    world.sender.answers = [SendResult(500, "boom", 3)]
    await world.app.payment_intents.create(
        world.merchant, CreatePaymentIntent(amount=5, currency="USD")
    )
    policy = WebhookPolicy(schedule=(0, 0.05), jitter=0)
    dispatcher = counted(world, policy, clock=SystemClock())
    async with running(dispatcher, ToldWakeups(), idle_seconds=0):
        while len(world.sender.sent) < 2:  # the fallback poll is an hour away
            dispatcher.claimed.clear()
            await asyncio.wait_for(dispatcher.claimed.wait(), 10)
    log = await world.app.webhook_endpoints.deliveries(
        world.merchant, endpoint_id=created.endpoint.id
    )
    assert [a.status_code for a in log.data[0].attempts] == [500, 200]
