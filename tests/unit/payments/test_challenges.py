"""The 3-D Secure challenge as the page sees it: Challenges over the fakes and simulators."""

from __future__ import annotations

import pytest

from core.access.model import Merchant
from core.payments.challenges import Challenges, ChallengeState
from core.payments.errors import PaymentFailed
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.model import AttemptStatus, PaymentIntent, Status
from core.shared.money import Money
from tests.unit.payments.conftest import MERCHANT, World, secret_key

THREE_DS = "4000002760003184"


@pytest.fixture
async def challenges(world: World) -> Challenges:
    async with world.uow() as uow:
        await uow.merchants.add(Merchant(MERCHANT, "Corner Shop", world.clock.now()))
        await uow.commit()
    return Challenges(world.uow, world.payments)


async def challenged(world: World, *, manual: bool = False, **fields: str) -> PaymentIntent:
    intent = await world.intent(4200, manual=manual)
    async with world.uow() as uow:
        stored = await uow.payment_intents.get(MERCHANT, intent.id, for_update=True)
        assert stored is not None
        for name, value in fields.items():
            setattr(stored, name, value)
        await uow.payment_intents.update(stored)
        await uow.commit()
    confirmed = await world.confirm_card(intent, THREE_DS)
    assert confirmed.status is Status.REQUIRES_ACTION
    return confirmed


async def test_a_pending_challenge_shows_who_asks_for_how_much(
    world: World, challenges: Challenges
) -> None:
    intent = await challenged(world, description="Two coffees", return_url="https://shop.test/r")
    challenge = await challenges.view(intent.latest_attempt)
    assert challenge.state is ChallengeState.PENDING
    assert challenge.merchant_name == "Corner Shop"
    assert challenge.amount == Money(4200, "USD")
    assert (challenge.card_brand, challenge.card_last4) == ("visa", "3184")
    assert challenge.description == "Two coffees"
    assert (challenge.payment_intent_id, challenge.return_url) == (intent.id, "https://shop.test/r")


@pytest.mark.parametrize(("passed", "state", "status"), [
    (True, ChallengeState.APPROVED, Status.SUCCEEDED),
    (False, ChallengeState.FAILED, Status.REQUIRES_PAYMENT_METHOD),
])  # fmt: skip
async def test_the_answer_completes_the_challenge(
    world: World, challenges: Challenges, passed: bool, state: ChallengeState, status: Status
) -> None:
    intent = await challenged(world)
    answer = await challenges.answer(intent.latest_attempt, passed)
    assert answer.accepted and answer.challenge.state is state
    assert (await world.stored(intent.id)).status is status
    if not passed:
        assert answer.challenge.failure_message
    # A second answer (a reload, a double click) changes nothing.
    again = await challenges.answer(intent.latest_attempt, not passed)
    assert not again.accepted and again.challenge.state is state
    assert (await world.stored(intent.id)).status is status


async def test_manual_capture_is_approved_and_waits_for_the_merchant(
    world: World, challenges: Challenges
) -> None:
    intent = await challenged(world, manual=True)
    answer = await challenges.answer(intent.latest_attempt, True)
    assert answer.challenge.state is ChallengeState.APPROVED
    assert (await world.stored(intent.id)).status is Status.REQUIRES_CAPTURE


async def test_a_canceled_payment_has_no_pending_challenge(
    world: World, challenges: Challenges
) -> None:
    intent = await challenged(world)
    await world.payments.cancel(secret_key(), intent.id)
    answer = await challenges.answer(intent.latest_attempt, True)
    assert not answer.accepted
    assert answer.challenge.state is ChallengeState.CANCELED
    assert (await world.stored(intent.id)).status is Status.CANCELED


@pytest.mark.parametrize("attempt_id", ["", "pa_nope", "pi_123", "x" * 5000, "../../etc"])
async def test_anything_else_is_unknown(challenges: Challenges, attempt_id: str) -> None:
    assert (await challenges.view(attempt_id)).state is ChallengeState.UNKNOWN
    answer = await challenges.answer(attempt_id, True)
    assert (answer.accepted, answer.challenge.state) == (False, ChallengeState.UNKNOWN)


async def test_a_upi_collect_is_no_challenge_of_this_page(
    world: World, challenges: Challenges
) -> None:
    intent = await world.intent(50000, currency="inr", types=("upi",))
    confirmed = await world.payments.confirm(
        secret_key(), intent.id, ConfirmPaymentIntent(upi_vpa="payer@okaxis")
    )
    assert confirmed.status is Status.REQUIRES_ACTION
    assert (await challenges.view(confirmed.latest_attempt)).state is ChallengeState.UNKNOWN
    answer = await challenges.answer(confirmed.latest_attempt, True)
    assert not answer.accepted
    assert (await world.stored(intent.id)).status is Status.REQUIRES_ACTION


async def test_an_attempt_without_challenge_shows_how_it_ended(
    world: World, challenges: Challenges
) -> None:
    paid = await world.paid()
    assert (await challenges.view(paid.latest_attempt)).state is ChallengeState.APPROVED
    declined = await world.intent()
    with pytest.raises(PaymentFailed):
        await world.confirm_card(declined, "4000000000000002")
    failed = await world.stored(declined.id)
    challenge = await challenges.view(failed.latest_attempt)
    assert challenge.state is ChallengeState.FAILED
    async with world.uow() as uow:
        attempt = await uow.payment_attempts.get(failed.latest_attempt)
    assert attempt is not None and attempt.status is AttemptStatus.FAILED
    assert challenge.failure_message == (attempt.error.message if attempt.error else "")
