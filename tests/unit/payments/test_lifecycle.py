"""Confirm, capture, cancel, 3DS, UPI, timeouts and recovery, over fakes and the simulators.

Every test card of API.md goes through the use-cases here; the simulators are in-memory
with no latency, so the whole file runs in milliseconds.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.payments.acquirer import (
    AcquirerUnavailable,
    AuthorizationRequest,
    AuthorizationResult,
)
from core.payments.errors import AcquirerUnavailableError, PaymentFailed
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.model import (
    AttemptStatus,
    PaymentAttempt,
    PaymentPolicy,
    Status,
)
from core.shared.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from sandbox.acquirer import NetworkReply, RequestKind
from sandbox.acquirer.card_network_simulator import NetworkRequest, default_handler
from sandbox.acquirer.card_network_transformers import NetworkCode
from sandbox.acquirer.simulation import Delivery
from tests.unit.payments.conftest import (
    MERCHANT,
    OTHER_MERCHANT,
    WEB_BASE_URL,
    World,
    build_world,
    publishable_key,
    secret_key,
)

APPROVED_CARDS = [
    ("4242424242424242", "visa"),
    ("5555555555554444", "mastercard"),
    ("378282246310005", "amex"),
    ("4000000000000259", "visa"),  # approved, disputed later
]
DECLINED_CARDS = [
    ("4000000000000002", "generic_decline"),
    ("4000000000009995", "insufficient_funds"),
    ("4000000000000069", "expired_card"),
    ("4000000000000127", "incorrect_cvc"),
]
CHALLENGE_CARD = "4000002760003184"
TIMEOUT_CARD = "4000000000000408"
PROCESSING_ERROR_CARD = "4000000000000119"
RISK_CARD = "4100000000000019"


async def attempts_of(world: World, intent_id: str) -> list[PaymentAttempt]:
    async with world.uow() as uow:
        return list(await uow.payment_attempts.for_intent(MERCHANT, intent_id))


async def history(world: World, intent_id: str) -> list[tuple[str | None, str, str]]:
    async with world.uow() as uow:
        events = await uow.payment_events.for_intent(MERCHANT, intent_id)
    return [
        (e.from_status and e.from_status.value, e.to_status.value, e.kind.value) for e in events
    ]


def assert_money_consistent(intent: object) -> None:
    from core.payments.model import PaymentIntent

    assert isinstance(intent, PaymentIntent)
    assert 0 <= intent.amount_capturable + intent.amount_received <= intent.amount
    assert 0 <= intent.amount_refunded <= intent.amount_received


# --- approvals ----------------------------------------------------------------------


@pytest.mark.parametrize(("number", "brand"), APPROVED_CARDS)
async def test_an_approved_card_with_automatic_capture_succeeds(
    world: World, number: str, brand: str
) -> None:
    intent = await world.intent(2500)
    confirmed = await world.confirm_card(intent, number)

    assert confirmed.status is Status.SUCCEEDED
    assert (confirmed.amount_received, confirmed.amount_capturable) == (2500, 0)
    assert confirmed.attempts == 1 and confirmed.last_payment_error is None
    assert confirmed.payment_method.startswith("tok_")
    assert confirmed == await world.stored(intent.id)
    [attempt] = await attempts_of(world, intent.id)
    assert attempt.status is AttemptStatus.CAPTURED
    assert (attempt.card_brand, attempt.card_last4) == (brand, number[-4:])
    assert attempt.card_fingerprint and attempt.acquirer_reference.startswith("simnet_")
    assert (attempt.amount_authorized, attempt.amount_captured) == (2500, 2500)
    assert await history(world, intent.id) == [
        (None, "REQUIRES_PAYMENT_METHOD", "STATUS_CHANGED"),
        ("REQUIRES_PAYMENT_METHOD", "PROCESSING", "STATUS_CHANGED"),
        ("PROCESSING", "SUCCEEDED", "STATUS_CHANGED"),
    ]


async def test_manual_capture_holds_then_captures_in_full(world: World) -> None:
    intent = await world.paid(3000, manual=True)
    assert intent.status is Status.REQUIRES_CAPTURE
    assert (intent.amount_capturable, intent.amount_received) == (3000, 0)
    assert intent.capture_before == world.clock.now() + PaymentPolicy().authorization_ttl

    captured = await world.payments.capture(secret_key(), intent.id)
    assert captured.status is Status.SUCCEEDED
    assert (captured.amount_capturable, captured.amount_received) == (0, 3000)
    assert captured.capture_before is None


async def test_a_partial_capture_releases_the_rest(world: World) -> None:
    intent = await world.paid(3000, manual=True)
    captured = await world.payments.capture(secret_key(), intent.id, 1200)
    assert captured.status is Status.SUCCEEDED
    assert (captured.amount_capturable, captured.amount_received) == (0, 1200)
    [attempt] = await attempts_of(world, intent.id)
    assert (attempt.status, attempt.amount_captured) == (AttemptStatus.CAPTURED, 1200)
    events = await history(world, intent.id)
    assert events[-2:] == [
        ("REQUIRES_CAPTURE", "PROCESSING", "STATUS_CHANGED"),
        ("PROCESSING", "SUCCEEDED", "STATUS_CHANGED"),
    ]
    async with world.uow() as uow:
        last = (await uow.payment_events.for_intent(MERCHANT, intent.id))[-1]
    assert (last.amount, last.object_id) == (1200, attempt.id)


async def test_capturing_more_than_capturable_writes_nothing(world: World) -> None:
    intent = await world.paid(3000, manual=True)
    with pytest.raises(FailedPrecondition) as raised:
        await world.payments.capture(secret_key(), intent.id, 3001)
    assert raised.value.reason == "AMOUNT_TOO_LARGE"
    assert raised.value.metadata["param"] == "amount_to_capture"
    assert await world.stored(intent.id) == intent
    with pytest.raises(InvalidArgument) as invalid:
        await world.payments.capture(secret_key(), intent.id, -1)
    assert invalid.value.metadata["param"] == "amount_to_capture"


# --- declines and failures ----------------------------------------------------------


@pytest.mark.parametrize(("number", "decline_code"), DECLINED_CARDS)
async def test_a_decline_returns_the_intent_for_another_payment_method(
    world: World, number: str, decline_code: str
) -> None:
    intent = await world.intent()
    with pytest.raises(PaymentFailed) as raised:
        await world.confirm_card(intent, number)
    error = raised.value
    assert error.reason == "CARD_DECLINED"
    assert error.metadata["decline_code"] == decline_code
    assert error.metadata["payment_intent"] == intent.id

    stored = await world.stored(intent.id)
    assert stored.status is Status.REQUIRES_PAYMENT_METHOD
    assert stored.last_payment_error is not None
    assert (stored.last_payment_error.code, stored.last_payment_error.decline_code) == (
        "CARD_DECLINED",
        decline_code,
    )
    assert (stored.attempts, stored.failed_attempts, stored.amount_capturable) == (1, 1, 0)
    [attempt] = await attempts_of(world, intent.id)
    assert attempt.status is AttemptStatus.FAILED
    assert attempt.error == stored.last_payment_error

    # The customer tries another card: the intent goes on.
    paid = await world.confirm_card(intent)
    assert paid.status is Status.SUCCEEDED and paid.last_payment_error is None
    assert paid.attempts == 2


async def test_a_processing_error_is_retryable(world: World) -> None:
    intent = await world.intent()
    with pytest.raises(PaymentFailed) as raised:
        await world.confirm_card(intent, PROCESSING_ERROR_CARD)
    assert raised.value.reason == "PROCESSING_ERROR"
    assert raised.value.metadata["retryable"] == "true"
    assert (await world.stored(intent.id)).status is Status.REQUIRES_PAYMENT_METHOD


async def test_the_risk_engine_blocks_before_any_acquirer_call(world: World) -> None:
    intent = await world.intent()
    with pytest.raises(PaymentFailed) as raised:
        await world.confirm_card(intent, RISK_CARD)
    assert raised.value.reason == "RISK_BLOCKED"
    stored = await world.stored(intent.id)
    assert stored.status is Status.REQUIRES_PAYMENT_METHOD
    assert stored.last_payment_error is not None
    assert stored.last_payment_error.code == "RISK_BLOCKED"
    [attempt] = await attempts_of(world, intent.id)
    assert attempt.status is AttemptStatus.FAILED
    assert await world.card_network.lookup(attempt.id) is None  # never sent
    assert await history(world, intent.id) == [
        (None, "REQUIRES_PAYMENT_METHOD", "STATUS_CHANGED"),
        ("REQUIRES_PAYMENT_METHOD", "REQUIRES_PAYMENT_METHOD", "ATTEMPT_FAILED"),
    ]


async def test_failed_attempts_are_bounded() -> None:
    world = build_world(policy=PaymentPolicy(max_failed_attempts=2))
    intent = await world.intent()
    for _ in range(2):
        with pytest.raises(PaymentFailed):
            await world.confirm_card(intent, "4000000000000002")
    token = world.token()
    with pytest.raises(FailedPrecondition) as raised:
        await world.payments.confirm(
            secret_key(), intent.id, ConfirmPaymentIntent(payment_method=token)
        )
    assert raised.value.reason == "ATTEMPTS_EXHAUSTED"
    # Refused before the vault: the token is still good for another intent.
    other = await world.intent()
    await world.payments.confirm(secret_key(), other.id, ConfirmPaymentIntent(payment_method=token))


async def test_the_default_bound_is_five(world: World) -> None:
    intent = await world.intent()
    for _ in range(5):
        with pytest.raises(PaymentFailed):
            await world.confirm_card(intent, "4000000000009995")
    with pytest.raises(FailedPrecondition, match="failed 5 times") as raised:
        await world.confirm_card(intent)
    assert raised.value.reason == "ATTEMPTS_EXHAUSTED"


async def test_an_unreachable_acquirer_fails_the_attempt_without_counting_it() -> None:
    class Down:
        async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
            raise AcquirerUnavailable("connection refused")

    world = build_world(card_acquirer=Down())  # type: ignore[arg-type]
    intent = await world.intent()
    with pytest.raises(AcquirerUnavailableError) as raised:
        await world.confirm_card(intent)
    assert raised.value.reason == "ACQUIRER_UNAVAILABLE"
    stored = await world.stored(intent.id)
    assert stored.status is Status.REQUIRES_PAYMENT_METHOD
    assert (stored.attempts, stored.failed_attempts) == (1, 0)


# --- the payment method ---------------------------------------------------------------


async def test_a_token_is_single_use(world: World) -> None:
    token = world.token()
    first, second = await world.intent(), await world.intent()
    await world.payments.confirm(secret_key(), first.id, ConfirmPaymentIntent(payment_method=token))
    with pytest.raises(FailedPrecondition) as raised:
        await world.payments.confirm(
            secret_key(), second.id, ConfirmPaymentIntent(payment_method=token)
        )
    assert raised.value.reason == "TOKEN_ALREADY_USED"
    stored = await world.stored(second.id)
    assert (stored.status, stored.attempts) == (Status.REQUIRES_PAYMENT_METHOD, 0)


async def test_a_payment_method_is_reusable(world: World) -> None:
    method = world.vault.add_payment_method(MERCHANT, "5555555555554444")
    for _ in range(2):
        intent = await world.intent()
        paid = await world.payments.confirm(
            secret_key(), intent.id, ConfirmPaymentIntent(payment_method=method)
        )
        assert (paid.status, paid.payment_method) == (Status.SUCCEEDED, method)


@pytest.mark.parametrize("owner", [OTHER_MERCHANT, None])
async def test_an_unknown_or_foreign_token_is_not_found(world: World, owner: str | None) -> None:
    intent = await world.intent()
    token = world.token(merchant_id=owner) if owner else "tok_01jhf000000000000000000000"
    with pytest.raises(NotFound) as raised:
        await world.payments.confirm(
            secret_key(), intent.id, ConfirmPaymentIntent(payment_method=token)
        )
    assert raised.value.metadata["param"] == "payment_method"


@pytest.mark.parametrize(
    ("command", "field", "reason"),
    [
        (ConfirmPaymentIntent(), "payment_method", "PARAMETER_MISSING"),
        (ConfirmPaymentIntent(payment_method="card_123"), "payment_method", "PARAMETER_INVALID"),
        (
            ConfirmPaymentIntent(payment_method="pm_x", upi_vpa="a@upi"),
            "payment_method",
            "PARAMETER_INVALID",
        ),
        (ConfirmPaymentIntent(upi_vpa="not a vpa"), "upi.vpa", "PARAMETER_INVALID"),
        (ConfirmPaymentIntent(upi_vpa=""), "upi.vpa", "PARAMETER_INVALID"),
    ],
)
async def test_bad_confirm_input_names_the_field(
    world: World, command: ConfirmPaymentIntent, field: str, reason: str
) -> None:
    intent = await world.intent(types=("card", "upi"), currency="inr")
    with pytest.raises(InvalidArgument) as raised:
        await world.payments.confirm(secret_key(), intent.id, command)
    assert (raised.value.metadata["param"], raised.value.reason) == (field, reason)
    assert await world.stored(intent.id) == intent


async def test_a_payment_method_type_the_intent_does_not_accept(world: World) -> None:
    intent = await world.intent(types=("card",), currency="inr")
    with pytest.raises(InvalidArgument) as raised:
        await world.payments.confirm(
            secret_key(), intent.id, ConfirmPaymentIntent(upi_vpa="buyer@upi")
        )
    assert raised.value.metadata["param"] == "upi"


async def test_a_publishable_key_confirms_with_the_client_secret(world: World) -> None:
    intent = await world.intent()
    token = world.token()
    with pytest.raises(NotFound):
        await world.payments.confirm(
            publishable_key(), intent.id, ConfirmPaymentIntent(payment_method=token)
        )
    paid = await world.payments.confirm(
        publishable_key(),
        intent.id,
        ConfirmPaymentIntent(payment_method=token, client_secret=intent.client_secret),
    )
    assert paid.status is Status.SUCCEEDED
    events = await history(world, intent.id)
    assert len(events) == 3


async def test_a_publishable_key_cannot_charge_a_saved_payment_method(world: World) -> None:
    intent = await world.intent()
    command = ConfirmPaymentIntent(
        payment_method="pm_01m94abcdefghjkmnpqrstvwxy", client_secret=intent.client_secret
    )
    with pytest.raises(PermissionDenied) as raised:
        await world.payments.confirm(publishable_key(), intent.id, command)
    assert raised.value.reason == "PAYMENT_METHOD_NOT_ALLOWED"
    assert await world.stored(intent.id) == intent


async def test_another_merchants_intent_is_not_found(world: World) -> None:
    intent = await world.intent(merchant_id=OTHER_MERCHANT)
    with pytest.raises(NotFound):
        await world.payments.confirm(
            secret_key(), intent.id, ConfirmPaymentIntent(payment_method=world.token())
        )
    with pytest.raises(NotFound):
        await world.payments.capture(secret_key(), intent.id)
    with pytest.raises(NotFound):
        await world.payments.cancel(secret_key(), intent.id)


# --- wrong states ---------------------------------------------------------------------


async def test_wrong_state_calls_name_the_state(world: World) -> None:
    paid = await world.paid()
    for call in (
        world.confirm_card(paid),
        world.payments.capture(secret_key(), paid.id),
        world.payments.cancel(secret_key(), paid.id),
    ):
        with pytest.raises(FailedPrecondition) as raised:
            await call
        assert raised.value.reason == "PAYMENT_INTENT_UNEXPECTED_STATE"
        assert raised.value.metadata["status"] == "SUCCEEDED"
    fresh = await world.intent()
    with pytest.raises(FailedPrecondition) as raised:
        await world.payments.capture(secret_key(), fresh.id)
    assert raised.value.metadata["status"] == "REQUIRES_PAYMENT_METHOD"


# --- 3-D Secure -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("manual", "final"), [(False, Status.SUCCEEDED), (True, Status.REQUIRES_CAPTURE)]
)
async def test_3ds_passed(world: World, manual: bool, final: Status) -> None:
    intent = await world.intent(manual=manual)
    pending = await world.confirm_card(intent, CHALLENGE_CARD)
    assert pending.status is Status.REQUIRES_ACTION
    [attempt] = await attempts_of(world, intent.id)
    assert pending.next_action is not None
    assert pending.next_action.type == "REDIRECT_TO_URL"
    assert pending.next_action.url == f"{WEB_BASE_URL}/3ds/{attempt.id}"
    assert attempt.status is AttemptStatus.REQUIRES_ACTION

    done = await world.payments.complete_action(attempt.id, True)
    assert done.status is final and done.next_action is None
    # The page submitted twice: the same intent, nothing more happens.
    assert await world.payments.complete_action(attempt.id, True) == done
    assert [e[1] for e in await history(world, intent.id)][1:4] == [
        "PROCESSING",
        "REQUIRES_ACTION",
        "PROCESSING",
    ]


async def test_3ds_failed(world: World) -> None:
    intent = await world.intent()
    await world.confirm_card(intent, CHALLENGE_CARD)
    [attempt] = await attempts_of(world, intent.id)
    failed = await world.payments.complete_action(attempt.id, False)
    assert failed.status is Status.REQUIRES_PAYMENT_METHOD
    assert failed.last_payment_error is not None
    assert failed.last_payment_error.decline_code == "authentication_failed"


async def test_complete_action_of_an_unknown_attempt(world: World) -> None:
    with pytest.raises(NotFound) as raised:
        await world.payments.complete_action("pa_01jhf000000000000000000000", True)
    assert raised.value.metadata["param"] == "attempt"


# --- timeouts, sync and recovery ------------------------------------------------------


async def test_a_timeout_leaves_the_intent_processing_until_asked_again(world: World) -> None:
    intent = await world.intent()
    answered = await world.confirm_card(intent, TIMEOUT_CARD)
    assert answered.status is Status.PROCESSING
    [attempt] = await attempts_of(world, intent.id)
    assert attempt.status is AttemptStatus.PROCESSING

    synced = await world.payments.sync_attempt(attempt.id)
    assert synced.status is Status.SUCCEEDED
    assert synced.amount_received == intent.amount
    again = await world.payments.sync_attempt(attempt.id)
    assert again == synced
    assert len(await history(world, intent.id)) == 3


async def test_recovery_settles_stuck_attempts_once_they_are_old_enough(world: World) -> None:
    intent = await world.intent(manual=True)
    await world.confirm_card(intent, TIMEOUT_CARD)
    [attempt] = await attempts_of(world, intent.id)
    assert await world.payments.recover_stuck_attempts(MINUTE) == []  # too fresh
    world.clock.advance(seconds=61)
    assert await world.payments.recover_stuck_attempts(MINUTE) == [attempt.id]
    stored = await world.stored(intent.id)
    assert (stored.status, stored.amount_capturable) == (Status.REQUIRES_CAPTURE, intent.amount)
    world.clock.advance(seconds=120)
    assert await world.payments.recover_stuck_attempts(MINUTE) == []


async def test_recovery_leases_what_it_cannot_settle_yet() -> None:
    """Outcome still unknown (the acquirer is down): claimed once per window, not more."""
    world = build_world()
    intent = await world.intent()
    await world.confirm_card(intent, TIMEOUT_CARD)
    [attempt] = await attempts_of(world, intent.id)

    async def down(reference: str) -> None:
        raise AcquirerUnavailable("down")

    world.card_network.lookup = down  # type: ignore[method-assign,assignment]
    world.clock.advance(seconds=61)
    assert await world.payments.recover_stuck_attempts(MINUTE) == [attempt.id]
    assert await world.payments.recover_stuck_attempts(MINUTE) == []  # leased
    world.clock.advance(seconds=61)
    assert await world.payments.recover_stuck_attempts(MINUTE) == [attempt.id]
    assert (await world.stored(intent.id)).status is Status.PROCESSING
    await world.upi.aclose()


async def test_an_attempt_the_acquirer_never_received_fails_on_recovery() -> None:
    def lose_request(request: NetworkRequest) -> NetworkReply:
        if request.kind is RequestKind.AUTHORIZE:
            return NetworkReply(NetworkCode.APPROVED, delivery=Delivery.REQUEST_LOST)
        return default_handler(request)

    world = build_world(handler=lose_request)
    intent = await world.intent()
    assert (await world.confirm_card(intent)).status is Status.PROCESSING
    [attempt] = await attempts_of(world, intent.id)
    # A sync does not give up: the call might still be on its way.
    assert (await world.payments.sync_attempt(attempt.id)).status is Status.PROCESSING
    world.clock.advance(minutes=10)
    await world.payments.recover_stuck_attempts(MINUTE)
    stored = await world.stored(intent.id)
    assert stored.status is Status.REQUIRES_PAYMENT_METHOD
    assert stored.last_payment_error is not None
    assert stored.last_payment_error.code == "ACQUIRER_UNAVAILABLE"
    assert stored.failed_attempts == 0
    await world.upi.aclose()


async def test_a_lost_capture_reply_is_recovered_without_capturing_twice() -> None:
    def lose_capture_reply(request: NetworkRequest) -> NetworkReply:
        if request.kind is RequestKind.CAPTURE:
            return NetworkReply(NetworkCode.APPROVED, delivery=Delivery.REPLY_LOST)
        return default_handler(request)

    world = build_world(handler=lose_capture_reply)
    # A capture call's reply (an automatic capture is a sale at this acquirer: test_sale.py)
    authorized = await world.paid(5000, manual=True)
    intent = await world.payments.capture(secret_key(), authorized.id)
    assert intent.status is Status.PROCESSING  # authorized; the capture's reply was lost
    [attempt] = await attempts_of(world, intent.id)
    assert attempt.status is AttemptStatus.CAPTURE_PENDING
    world.clock.advance(minutes=2)
    assert await world.payments.recover_stuck_attempts(MINUTE) == [attempt.id]
    stored = await world.stored(intent.id)
    assert (stored.status, stored.amount_received) == (Status.SUCCEEDED, 5000)
    books = world.card_network._records[attempt.id]
    assert books.captured == 5000 and len(books.captures) == 1
    await world.upi.aclose()


async def test_a_definitive_answer_settles_an_attempt_once(world: World) -> None:
    """Confirm's own phase 3 and a late sync both see APPROVED: one transition each way."""
    intent = await world.intent(manual=True)
    await world.confirm_card(intent, CHALLENGE_CARD)
    [attempt] = await attempts_of(world, intent.id)
    await world.card_network.complete_challenge(attempt.id, True)  # behind our back
    first = await world.payments.sync_attempt(attempt.id)
    second = await world.payments.sync_attempt(attempt.id)
    assert first == second and first.status is Status.REQUIRES_CAPTURE
    assert [e[1] for e in await history(world, intent.id)].count("REQUIRES_CAPTURE") == 1


MINUTE = timedelta(minutes=1)
