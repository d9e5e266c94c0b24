"""The transactional outbox: an event is written in the transaction of its change.

Every use-case that changes a merchant-visible object calls `publish` with its own unit
of work, between its writes and `commit()`. The event row and one delivery row per
subscribed webhook endpoint commit with the change or not at all: no event without the
change, no change without the event. The worker sends the deliveries afterwards
(core.events.delivery), so no HTTP call ever happens inside the change's transaction.

Payments speak through their history (PaymentEvent): PaymentOutbox is the payments
context's Bookkeeping hook, called wherever an intent's history grows, and turns each line
into Stripe's event type with the intent (or refund) as the API renders it after the
change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from core.events.model import Event, EventType, FanOut, WebhookPolicy
from core.events.ports import NoRequest, ObjectRenderer, RequestContext
from core.payments.model import EventKind, PaymentEvent, Status
from core.shared.ports import IdGenerator
from core.unit_of_work import NOTHING_SAVED, Bookkeeping, Saved, UnitOfWork

_BY_STATUS = {
    Status.REQUIRES_ACTION: EventType.PAYMENT_INTENT_REQUIRES_ACTION,
    Status.PROCESSING: EventType.PAYMENT_INTENT_PROCESSING,
    Status.REQUIRES_CAPTURE: EventType.PAYMENT_INTENT_AMOUNT_CAPTURABLE_UPDATED,
    Status.SUCCEEDED: EventType.PAYMENT_INTENT_SUCCEEDED,
    Status.REQUIRES_PAYMENT_METHOD: EventType.PAYMENT_INTENT_PAYMENT_FAILED,
    Status.CANCELED: EventType.PAYMENT_INTENT_CANCELED,
}


def payment_event_types(event: PaymentEvent) -> list[tuple[EventType, str]]:
    """Stripe's event types one line of an intent's history fires, each with the kind of
    object it carries ("payment_intent" or "refund")."""
    if event.kind is EventKind.STATUS_CHANGED:
        if event.from_status is None:
            return [(EventType.PAYMENT_INTENT_CREATED, "payment_intent")]
        return [(_BY_STATUS[event.to_status], "payment_intent")]
    if event.kind is EventKind.ATTEMPT_FAILED:
        return [(EventType.PAYMENT_INTENT_PAYMENT_FAILED, "payment_intent")]
    if event.kind is EventKind.REFUND_PENDING:
        # Stripe tells charge.refunded as soon as the charge's amount_refunded moves.
        return [(EventType.REFUND_CREATED, "refund"), (EventType.CHARGE_REFUNDED, "payment_intent")]
    if event.kind is EventKind.REFUND_SUCCEEDED:
        return [(EventType.REFUND_UPDATED, "refund")]
    if event.kind is EventKind.REFUND_FAILED:
        return [(EventType.REFUND_FAILED, "refund")]
    if event.kind is EventKind.DETAILS_UPDATED:
        return []
    raise ValueError(f"no event type for {event.kind}")


class EventOutbox:
    """Built once by the composition root; every context publishes through it."""

    def __init__(
        self,
        ids: IdGenerator,
        renderer: ObjectRenderer,
        requests: RequestContext | None = None,
        policy: WebhookPolicy | None = None,
    ) -> None:
        self._ids = ids
        self._renderer = renderer
        self._requests = requests or NoRequest()
        self.policy = policy or WebhookPolicy()

    def _new_delivery_id(self) -> str:
        return self._ids.new("whd")

    async def publish(
        self,
        uow: UnitOfWork,
        *,
        merchant_id: str,
        type: str,
        obj: object,
        livemode: bool,
        at: datetime,
        exclude_endpoint: str = "",
    ) -> Event:
        event = Event(
            id=self._ids.new("evt"),
            merchant_id=merchant_id,
            type=type,
            created=at,
            livemode=livemode,
            data=self._renderer.render(obj),
            request=self._requests.current(),
        )
        await uow.events.add_with_deliveries(
            event,
            FanOut(
                due=at + timedelta(seconds=self.policy.schedule[0]),
                new_id=self._new_delivery_id,
                exclude_endpoint=exclude_endpoint,
            ),
        )
        return event


class PaymentOutbox:
    """The payments context's hook (core.payments.ports.Bookkeeping): events for every
    line of an intent's history, in the transaction that wrote it. It renders the intent
    the caller has just saved (`saved`), or reads it back from the unit of work, and reads
    refunds back, so it sees them exactly as saved."""

    def __init__(self, outbox: EventOutbox) -> None:
        self._outbox = outbox

    async def record(
        self, uow: UnitOfWork, events: Sequence[PaymentEvent], saved: Saved = NOTHING_SAVED
    ) -> None:
        intents: dict[str, object] = {}
        for line in events:
            intent = intents.get(line.payment_intent_id) or saved.intent_of(line.payment_intent_id)
            if intent is None:
                intent = await uow.payment_intents.get(line.merchant_id, line.payment_intent_id)
                if intent is None:
                    raise LookupError(f"payment intent {line.payment_intent_id} is not saved")
                intents[line.payment_intent_id] = intent
            livemode = bool(getattr(intent, "livemode", False))
            for event_type, kind in payment_event_types(line):
                obj: object = intent
                if kind == "refund":
                    refund = await uow.refunds.get(line.merchant_id, line.object_id)
                    if refund is None:
                        raise LookupError(f"refund {line.object_id} is not saved")
                    obj = refund
                await self._outbox.publish(
                    uow,
                    merchant_id=line.merchant_id,
                    type=event_type.value,
                    obj=obj,
                    livemode=livemode,
                    at=line.occurred_at,
                )


class Recorders:
    """Several Bookkeeping hooks, called in order in the same transaction (the ledger's
    postings, then the outbox's events)."""

    def __init__(self, *hooks: Bookkeeping) -> None:
        self._hooks = hooks

    async def record(
        self, uow: UnitOfWork, events: Sequence[PaymentEvent], saved: Saved = NOTHING_SAVED
    ) -> None:
        for hook in self._hooks:
            await hook.record(uow, events, saved)
