"""Cancel and void, refunds, UPI collect, expiry, and what never gets stored."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from core.payments.errors import PaymentFailed
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.model import AttemptStatus, RefundStatus, Status
from core.payments.refunds import CreateRefund
from core.shared.errors import FailedPrecondition, InvalidArgument, NotFound
from tests.unit.payments.conftest import MERCHANT, OTHER_MERCHANT, World, secret_key

# --- cancel ---------------------------------------------------------------------------


async def test_cancel_before_confirmation_needs_no_acquirer(world: World) -> None:
    intent = await world.intent()
    canceled = await world.payments.cancel(secret_key(), intent.id, "requested_by_customer")
    assert canceled.status is Status.CANCELED
    assert canceled.cancellation_reason == "REQUESTED_BY_CUSTOMER"
    assert canceled.canceled_at == world.clock.now()
    assert await world.stored(intent.id) == canceled


async def test_cancel_voids_an_authorization(world: World) -> None:
    intent = await world.paid(4000, manual=True)
    canceled = await world.payments.cancel(secret_key(), intent.id, "DUPLICATE")
    assert canceled.status is Status.CANCELED
    assert (canceled.amount_capturable, canceled.amount_received) == (0, 0)
    assert canceled.cancellation_reason == "DUPLICATE"
    async with world.uow() as uow:
        [attempt] = await uow.payment_attempts.for_intent(MERCHANT, intent.id)
    assert attempt.status is AttemptStatus.VOIDED
    books = world.card_network._records[attempt.id]
    assert books.void is not None and books.void.amount.amount == 4000


async def test_cancel_abandons_a_pending_3ds_challenge(world: World) -> None:
    intent = await world.intent()
    await world.confirm_card(intent, "4000002760003184")
    canceled = await world.payments.cancel(secret_key(), intent.id, "abandoned")
    assert (canceled.status, canceled.next_action) == (Status.CANCELED, None)
    async with world.uow() as uow:
        [attempt] = await uow.payment_attempts.for_intent(MERCHANT, intent.id)
    # The challenge page is submitted after all: nothing changes any more.
    assert await world.payments.complete_action(attempt.id, True) == canceled


@pytest.mark.parametrize("reason", ["EXPIRED", "VOIDED", "because"])
async def test_cancel_takes_merchant_reasons_only(world: World, reason: str) -> None:
    intent = await world.intent()
    with pytest.raises(InvalidArgument) as raised:
        await world.payments.cancel(secret_key(), intent.id, reason)
    assert raised.value.metadata["param"] == "cancellation_reason"


async def test_cancel_twice_names_the_state(world: World) -> None:
    intent = await world.intent()
    await world.payments.cancel(secret_key(), intent.id)
    with pytest.raises(FailedPrecondition) as raised:
        await world.payments.cancel(secret_key(), intent.id)
    assert raised.value.metadata == {"status": "CANCELED"}


# --- refunds --------------------------------------------------------------------------


async def test_a_full_refund_by_default(world: World) -> None:
    intent = await world.paid(2500)
    refund = await world.refunds.create(secret_key(), CreateRefund(payment_intent=intent.id))
    assert (refund.status, refund.amount, refund.currency) == (RefundStatus.SUCCEEDED, 2500, "USD")
    assert refund.id.startswith("re_") and refund.acquirer_reference
    stored = await world.stored(intent.id)
    assert (stored.status, stored.amount_refunded) == (Status.SUCCEEDED, 2500)
    with pytest.raises(FailedPrecondition) as raised:
        await world.refunds.create(secret_key(), CreateRefund(payment_intent=intent.id))
    assert raised.value.reason == "CHARGE_ALREADY_REFUNDED"


async def test_several_partial_refunds_up_to_the_captured_amount(world: World) -> None:
    intent = await world.paid(3000, manual=True)
    await world.payments.capture(secret_key(), intent.id, 2000)
    for amount in (500, 700):
        await world.refunds.create(
            secret_key(), CreateRefund(payment_intent=intent.id, amount=amount, reason="duplicate")
        )
    before = await world.stored(intent.id)
    with pytest.raises(FailedPrecondition) as raised:
        await world.refunds.create(secret_key(), CreateRefund(payment_intent=intent.id, amount=801))
    assert raised.value.reason == "AMOUNT_TOO_LARGE"
    assert raised.value.metadata == {"param": "amount", "amount_refundable": "800"}
    assert await world.stored(intent.id) == before  # nothing written
    rest = await world.refunds.create(secret_key(), CreateRefund(payment_intent=intent.id))
    assert rest.amount == 800
    assert (await world.stored(intent.id)).amount_refunded == 2000

    page = await world.refunds.list(secret_key(), payment_intent=intent.id)
    assert [r.amount for r in page.data] == [800, 700, 500]
    assert page.data[-1].reason == "duplicate"
    assert await world.refunds.get(secret_key(), rest.id) == rest
    async with world.uow() as uow:
        events = await uow.payment_events.for_intent(MERCHANT, intent.id)
    kinds = [(e.kind.value, e.amount) for e in events if e.kind.value.startswith("REFUND")]
    assert kinds == [
        ("REFUND_PENDING", 500),
        ("REFUND_SUCCEEDED", 500),
        ("REFUND_PENDING", 700),
        ("REFUND_SUCCEEDED", 700),
        ("REFUND_PENDING", 800),
        ("REFUND_SUCCEEDED", 800),
    ]


async def test_refunds_need_a_succeeded_intent(world: World) -> None:
    intent = await world.paid(manual=True)
    with pytest.raises(FailedPrecondition) as raised:
        await world.refunds.create(secret_key(), CreateRefund(payment_intent=intent.id))
    assert (raised.value.reason, raised.value.metadata["status"]) == (
        "PAYMENT_INTENT_UNEXPECTED_STATE",
        "REQUIRES_CAPTURE",
    )


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (CreateRefund(payment_intent=""), "payment_intent"),
        (CreateRefund(payment_intent="pi_x", amount=-1), "amount"),
        (CreateRefund(payment_intent="pi_x", reason="changed_mind"), "reason"),
    ],
)
async def test_bad_refund_input_names_the_field(
    world: World, command: CreateRefund, field: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await world.refunds.create(secret_key(), command)
    assert raised.value.metadata["param"] == field


async def test_refunds_of_another_merchant_are_not_found(world: World) -> None:
    intent = await world.paid()
    refund = await world.refunds.create(secret_key(), CreateRefund(payment_intent=intent.id))
    other = secret_key(OTHER_MERCHANT)
    with pytest.raises(NotFound) as raised:
        await world.refunds.create(other, CreateRefund(payment_intent=intent.id))
    assert raised.value.metadata["param"] == "payment_intent"
    with pytest.raises(NotFound):
        await world.refunds.get(other, refund.id)
    assert (await world.refunds.list(other)).data == []


async def test_a_refund_without_an_answer_stays_pending_and_is_recovered(world: World) -> None:
    from core.payments.acquirer import AcquirerTimeout, RefundRequest

    intent = await world.paid(1000)
    real_refund = world.card_network.refund

    async def lost_reply(request: RefundRequest):  # type: ignore[no-untyped-def]
        await real_refund(request)  # the acquirer refunds, the reply is lost
        raise AcquirerTimeout(request.refund_reference)

    world.card_network.refund = lost_reply  # type: ignore[method-assign]
    pending = await world.refunds.create(secret_key(), CreateRefund(payment_intent=intent.id))
    assert pending.status is RefundStatus.PENDING
    assert (await world.stored(intent.id)).amount_refunded == 1000  # held while pending
    world.card_network.refund = real_refund  # type: ignore[method-assign]

    assert await world.refunds.recover_stuck_refunds(timedelta(minutes=1)) == []
    world.clock.advance(minutes=2)
    assert await world.refunds.recover_stuck_refunds(timedelta(minutes=1)) == [pending.id]
    settled = await world.refunds.get(secret_key(), pending.id)
    assert settled.status is RefundStatus.SUCCEEDED
    async with world.uow() as uow:
        [attempt] = await uow.payment_attempts.for_intent(MERCHANT, intent.id)
    assert world.card_network._records[attempt.id].refunded == 1000  # once


# --- UPI ------------------------------------------------------------------------------


async def upi_intent(world: World, vpa: str, *, amount: int = 49900) -> tuple[str, str]:
    intent = await world.intent(amount, currency="inr", types=("upi",))
    pending = await world.payments.confirm(
        secret_key(), intent.id, ConfirmPaymentIntent(upi_vpa=vpa)
    )
    assert pending.status is Status.REQUIRES_ACTION
    assert pending.next_action is not None
    assert pending.next_action.type == "UPI_COLLECT"
    assert pending.next_action.url.startswith("upi://pay?")
    assert pending.next_action.qr_code.startswith("data:image/png;base64,")
    async with world.uow() as uow:
        [attempt] = await uow.payment_attempts.for_intent(MERCHANT, intent.id)
    assert (attempt.upi_vpa, attempt.payment_method_type) == (vpa.lower(), "upi")
    return intent.id, attempt.id


async def test_upi_success_is_polled_to_completion(world: World) -> None:
    _, attempt_id = await upi_intent(world, "Success@UPI")
    await world.upi.settled(attempt_id)
    paid = await world.payments.sync_attempt(attempt_id)
    assert (paid.status, paid.amount_received) == (Status.SUCCEEDED, 49900)


async def test_upi_failure_returns_the_intent(world: World) -> None:
    _, attempt_id = await upi_intent(world, "failure@upi")
    await world.upi.settled(attempt_id)
    failed = await world.payments.sync_attempt(attempt_id)
    assert failed.status is Status.REQUIRES_PAYMENT_METHOD
    assert failed.last_payment_error is not None
    assert failed.last_payment_error.code == "PAYMENT_DECLINED"


async def test_upi_approved_in_the_app(world: World) -> None:
    _, attempt_id = await upi_intent(world, "shopper@okaxis")
    pending = await world.payments.sync_attempt(attempt_id)  # the poller: nothing yet
    assert pending.status is Status.REQUIRES_ACTION
    paid = await world.payments.complete_action(attempt_id, True)
    assert paid.status is Status.SUCCEEDED


async def test_upi_in_another_currency_is_unsupported(world: World) -> None:
    intent = await world.intent(currency="usd", types=("upi",))
    with pytest.raises(PaymentFailed) as raised:
        await world.payments.confirm(
            secret_key(), intent.id, ConfirmPaymentIntent(upi_vpa="success@upi")
        )
    assert raised.value.reason == "PAYMENT_METHOD_UNSUPPORTED"
    assert (await world.stored(intent.id)).failed_attempts == 0


# --- expiry ---------------------------------------------------------------------------


async def test_unconfirmed_intents_expire_after_an_hour(world: World) -> None:
    old = await world.intent()
    paid = await world.paid()
    world.clock.advance(minutes=30)
    young = await world.intent()
    world.clock.advance(minutes=29)
    assert await world.payments.expire_unconfirmed() == []
    world.clock.advance(minutes=2)
    assert await world.payments.expire_unconfirmed() == [old.id]
    expired = await world.stored(old.id)
    assert (expired.status, expired.cancellation_reason) == (Status.CANCELED, "EXPIRED")
    assert (await world.stored(young.id)).status is Status.REQUIRES_PAYMENT_METHOD
    assert (await world.stored(paid.id)).status is Status.SUCCEEDED
    world.clock.advance(minutes=30)
    assert await world.payments.expire_unconfirmed(limit=5) == [young.id]


async def test_uncaptured_authorizations_are_voided_after_seven_days(world: World) -> None:
    held = [await world.paid(1000 + i, manual=True) for i in range(3)]
    world.clock.advance(days=6, hours=23)
    assert await world.payments.void_expired_authorizations() == []
    world.clock.advance(hours=2)
    assert await world.payments.void_expired_authorizations(limit=2) == [h.id for h in held[:2]]
    assert await world.payments.void_expired_authorizations(limit=2) == [held[2].id]
    for intent in held:
        stored = await world.stored(intent.id)
        assert (stored.status, stored.cancellation_reason) == (Status.CANCELED, "VOIDED")
        assert world.card_network._records[stored.latest_attempt].void is not None


async def test_an_authorization_without_its_attempt_does_not_stop_the_other_voids(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    broken, held = await world.paid(1000, manual=True), await world.paid(2000, manual=True)
    async with world.uow() as uow:
        stored = await uow.payment_intents.get(MERCHANT, broken.id, for_update=True)
        assert stored is not None
        stored.latest_attempt = "pa_01lost"  # an inconsistency, as only a bug would leave
        await uow.payment_intents.update(stored)
        await uow.commit()
    world.clock.advance(days=8)
    assert await world.payments.void_expired_authorizations() == [held.id]
    assert (await world.stored(held.id)).status is Status.CANCELED
    assert (await world.stored(broken.id)).status is Status.REQUIRES_CAPTURE
    assert "not voided" in caplog.text


# --- hygiene --------------------------------------------------------------------------


async def test_no_card_number_or_cvc_is_stored_or_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    numbers = ["4242424242424242", "4000000000000002", "4100000000000019", "4000002760003184"]
    for number in numbers:
        intent = await world.intent()
        try:
            await world.confirm_card(intent, number)
        except PaymentFailed as error:
            assert number not in repr(error) and number not in str(error.metadata)
    dump = repr(world.uow.store.tables)
    for number in numbers:
        assert number not in dump and number[-10:] not in dump
    assert "Secret(" not in dump  # no card number, CVC or other secret object at all
    assert not any(number in record.getMessage() for record in caplog.records for number in numbers)
