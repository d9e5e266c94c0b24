"""Receipts and alerts: from events to the outbox to the mailer, once per event."""

from __future__ import annotations

from typing import Any

import pytest

from core.access.members import Membership
from core.access.model import Merchant
from core.access.roles import Role
from core.access.users import User
from core.account.profile import BusinessProfile
from core.events.model import Event, EventType
from core.notifications.model import MAX_ATTEMPTS, EmailKind, EmailStatus
from core.notifications.ports import MailRejected
from core.notifications.templates import format_amount, render
from core.notifications.use_cases import Notifications
from core.payments.model import (
    AttemptStatus,
    CaptureMethod,
    PaymentAttempt,
    PaymentIntent,
    Status,
)
from tests.fakes import FixedClock, SequentialIds
from tests.fakes.notifications import RecordingMailer
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory

MERCHANT = "acct_bakery"
PAN = "4242424242424242"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def uow(clock: FixedClock) -> MemoryUnitOfWorkFactory:
    factory = MemoryUnitOfWorkFactory()
    t = factory.store.tables
    now = clock.now()
    t.merchants[MERCHANT] = Merchant(MERCHANT, "Test <Bakery>", now)
    t.users["usr_1"] = User("usr_1", "owner@bakery.test", "$argon2id$x", now)
    t.memberships[(MERCHANT, "usr_1")] = Membership(MERCHANT, "usr_1", Role.OWNER, now)
    t.payment_intents["pi_1"] = PaymentIntent(
        id="pi_1", merchant_id=MERCHANT, amount=2500, currency="EUR",
        status=Status.SUCCEEDED, capture_method=CaptureMethod.AUTOMATIC,
        client_secret="pi_1_secret_x", livemode=False, created=now,
        receipt_email="shopper@example.test",
    )  # fmt: skip
    t.payment_attempts["pa_1"] = PaymentAttempt(
        id="pa_1", merchant_id=MERCHANT, payment_intent_id="pi_1", amount=2500,
        currency="EUR", status=AttemptStatus.CAPTURED, payment_method_type="card",
        acquirer="card_network", created=now, updated_at=now,
        card_brand="visa", card_last4="4242",
    )  # fmt: skip
    return factory


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def notifications(
    uow: MemoryUnitOfWorkFactory, clock: FixedClock, mailer: RecordingMailer
) -> Notifications:
    return Notifications(uow, SequentialIds(clock), clock, mailer)


def add_event(
    uow: MemoryUnitOfWorkFactory, clock: FixedClock, type_: EventType, data: dict[str, Any]
) -> Event:
    event = Event(f"evt_{len(uow.store.tables.webhooks.events)}", MERCHANT, type_.value,
                  clock.now(), False, data)  # fmt: skip
    uow.store.tables.webhooks.events[event.id] = event
    return event


def intent_data(**extra: Any) -> dict[str, Any]:
    return {"id": "pi_1", "amount": "2500", "amount_received": "2500", "currency": "EUR",
            "receipt_email": "shopper@example.test", "description": "", **extra}  # fmt: skip


async def test_a_succeeded_payment_sends_one_receipt_with_the_amount_and_no_card_number(
    notifications: Notifications, uow: MemoryUnitOfWorkFactory, clock: FixedClock,
    mailer: RecordingMailer,
) -> None:  # fmt: skip
    event = add_event(uow, clock, EventType.PAYMENT_INTENT_SUCCEEDED, intent_data())
    assert await notifications.queue(limit=10) == 1
    assert await notifications.queue(limit=10) == 0  # the event is read once
    assert await notifications.send_due(limit=10) == 1
    assert await notifications.send_due(limit=10) == 0

    [message] = mailer.sent
    assert message.recipient == "shopper@example.test"
    assert message.subject == "Your receipt from Test <Bakery>"
    assert "€25.00" in message.text and "€25.00" in message.html
    assert "Visa ending in 4242" in message.text
    assert "Test &lt;Bakery&gt;" in message.html  # escaped in the HTML
    assert PAN not in message.text + message.html
    assert message.message_id == f"<{event.id}.payment_receipt@paygate>"
    [email] = uow.store.tables.emails.values()
    assert (email.status, email.attempts, email.sent_at) == (EmailStatus.SENT, 1, clock.now())


async def test_the_outbox_keeps_one_email_per_event_and_kind(
    notifications: Notifications, uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    event = add_event(uow, clock, EventType.PAYMENT_INTENT_SUCCEEDED, intent_data())
    await notifications.queue(limit=10)
    uow.store.tables.webhooks.notified.clear()  # as if a worker died before its commit
    await notifications.queue(limit=10)
    async with uow() as tx:
        assert len(await tx.emails.for_event(event.id)) == 1


async def test_no_receipt_without_a_receipt_email_nor_for_other_events(
    notifications: Notifications, uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    uow.store.tables.payment_intents["pi_1"].receipt_email = ""
    add_event(uow, clock, EventType.PAYMENT_INTENT_SUCCEEDED, intent_data(receipt_email=""))
    add_event(uow, clock, EventType.PAYMENT_INTENT_CREATED, intent_data())
    assert await notifications.queue(limit=10) == 2
    assert uow.store.tables.emails == {}


async def test_a_refund_receipt_names_the_refunded_amount(
    notifications: Notifications, uow: MemoryUnitOfWorkFactory, clock: FixedClock,
    mailer: RecordingMailer,
) -> None:  # fmt: skip
    refund = {"id": "re_1", "payment_intent": "pi_1", "amount": "700", "currency": "EUR"}
    add_event(uow, clock, EventType.REFUND_CREATED, {**refund, "status": "PENDING"})
    add_event(uow, clock, EventType.REFUND_UPDATED, {**refund, "status": "SUCCEEDED"})
    await notifications.queue(limit=10)
    await notifications.send_due(limit=10)
    [message] = mailer.sent
    assert message.subject == "Your refund from Test <Bakery>"
    assert "refunded €7.00" in message.text and "re_1" in message.text


@pytest.mark.parametrize(
    ("support_email", "recipient"),
    [("", "owner@bakery.test"), ("help@bakery.test", "help@bakery.test")],
    ids=["owner-without-a-support-email", "the-profile-support-email"],
)
async def test_alerts_on_a_dispute_and_a_disabled_endpoint_go_to_the_alert_address(
    notifications: Notifications, uow: MemoryUnitOfWorkFactory, clock: FixedClock,
    mailer: RecordingMailer, support_email: str, recipient: str,
) -> None:  # fmt: skip
    """The business profile's support email when the merchant set one, else the owner's."""
    if support_email:
        uow.store.tables.business_profiles[MERCHANT] = BusinessProfile(
            merchant_id=MERCHANT, support_email=support_email
        )
    add_event(uow, clock, EventType.CHARGE_DISPUTE_CREATED,
              {"id": "dp_1", "payment_intent": "pi_1", "amount": "2500", "currency": "EUR",
               "reason": "fraudulent"})  # fmt: skip
    endpoint = {"id": "we_1", "url": "https://shop.test/hooks", "disabled_reason": "GONE"}
    add_event(uow, clock, EventType.WEBHOOK_ENDPOINT_DISABLED, endpoint)
    await notifications.queue(limit=10)
    await notifications.send_due(limit=10)
    assert {(m.recipient, m.subject) for m in mailer.sent} == {
        (recipient, "A payment of €25.00 was disputed"),
        (recipient, "Webhook endpoint disabled: https://shop.test/hooks"),
    }


async def test_a_temporary_failure_is_retried_later_and_a_permanent_one_stops(
    notifications: Notifications, uow: MemoryUnitOfWorkFactory, clock: FixedClock,
    mailer: RecordingMailer,
) -> None:  # fmt: skip
    add_event(uow, clock, EventType.PAYMENT_INTENT_SUCCEEDED, intent_data())
    await notifications.queue(limit=10)
    mailer.refuse = MailRejected("the mail server answered 451")
    assert await notifications.send_due(limit=10) == 1
    [email] = uow.store.tables.emails.values()
    assert (email.status, email.attempts) == (EmailStatus.PENDING, 1)
    assert await notifications.send_due(limit=10) == 0  # not due yet
    clock.advance(seconds=30)
    mailer.refuse = MailRejected("refused", permanent=True)
    assert await notifications.send_due(limit=10) == 1
    [email] = uow.store.tables.emails.values()
    assert (email.status, email.attempts) == (EmailStatus.FAILED, 2)
    assert MAX_ATTEMPTS > 2


async def test_old_events_get_no_email(
    notifications: Notifications, uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    add_event(uow, clock, EventType.PAYMENT_INTENT_SUCCEEDED, intent_data())
    clock.advance(hours=25)
    assert await notifications.queue(limit=10) == 1
    assert uow.store.tables.emails == {}


async def test_without_a_mailer_nothing_is_sent(
    uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    quiet = Notifications(uow, SequentialIds(clock), clock, None)
    add_event(uow, clock, EventType.PAYMENT_INTENT_SUCCEEDED, intent_data())
    await quiet.queue(limit=10)
    assert await quiet.send_due(limit=10) == 0


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "written"),
    [
        (2500, "EUR", "de_DE", "25,00\xa0€"),
        (1000, "JPY", "en_US", "¥1,000"),
        (1234, "KWD", "en_US", "KWD1.234"),
        (2500, "USD", "xx_NOPE", "$25.00"),  # an unknown locale falls back to en_US
    ],
)
def test_amounts_are_written_in_the_locale_from_minor_units(
    amount: int, currency: str, locale: str, written: str
) -> None:
    assert format_amount(amount, currency, locale) == written


def test_every_kind_renders_text_and_html_without_leftover_placeholders() -> None:
    values = {k: "x" for k in ("merchant", "amount", "payment", "date", "refund", "reason",
                               "dispute", "endpoint", "url")}  # fmt: skip
    for kind in EmailKind:
        content = render(kind, values)
        assert "$" not in content.subject + content.text + content.html
        assert content.html.startswith("<!doctype html>")
