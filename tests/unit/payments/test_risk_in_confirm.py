"""Confirm asks the risk engine once, before anything is written: a block fails the
attempt with RISK_BLOCKED and never reaches the acquirer, the review band asks the
acquirer for 3-D Secure, and the assessment is kept on the attempt and the intent."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from adapters.risk.rules_file import load_rules
from core.payments.errors import PaymentFailed
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.model import AttemptStatus, Status
from core.risk.engine import RiskEngine
from core.risk.model import Decision
from core.shared.errors import InvalidArgument
from tests.fakes.risk import CountingVelocityStore
from tests.unit.payments.conftest import World, build_world, publishable_key, secret_key
from tests.unit.payments.test_lifecycle import attempts_of

PLAIN_CARD = "4000056655665556"  # approved, and not one of API.md's published test cards
PUBLISHED = "4242424242424242"
LARGE = 1_000_001  # over the default rules' large_amount for USD


@pytest.fixture
async def store() -> CountingVelocityStore:
    return CountingVelocityStore()


@pytest.fixture
async def risky_world(store: CountingVelocityStore) -> AsyncIterator[World]:
    world = build_world(risk=RiskEngine(load_rules(), store))
    try:
        yield world
    finally:
        await world.upi.aclose()


async def pay_with(world: World, number: str, amount: int = 2000) -> str:
    """Confirms a new intent with a payment method of `number`; the intent's id."""
    intent = await world.intent(amount)
    method = world.vault.add_payment_method(intent.merchant_id, number)
    with contextlib.suppress(PaymentFailed):  # the caller reads the stored outcome
        await world.payments.confirm(
            secret_key(), intent.id, ConfirmPaymentIntent(payment_method=method)
        )
    return intent.id


async def test_the_sixth_payment_with_one_card_in_a_minute_is_blocked(
    risky_world: World, store: CountingVelocityStore
) -> None:
    method = risky_world.vault.add_payment_method("acct_01jhf0000000000000000000aa", PLAIN_CARD)
    outcomes = []
    for _ in range(6):
        intent = await risky_world.intent()
        try:
            paid = await risky_world.payments.confirm(
                secret_key(), intent.id, ConfirmPaymentIntent(payment_method=method)
            )
            outcomes.append(paid.status.value)
        except PaymentFailed as failed:
            outcomes.append(failed.reason)
    assert outcomes == ["SUCCEEDED"] * 5 + ["RISK_BLOCKED"]
    assert store.calls == 6  # one round trip per confirm

    blocked = await risky_world.stored(intent.id)
    assert blocked.status is Status.REQUIRES_PAYMENT_METHOD
    assert blocked.risk is not None and blocked.risk.decision is Decision.BLOCK
    assert "card_velocity" in [r.rule for r in blocked.risk.reasons]
    [attempt] = await attempts_of(risky_world, intent.id)
    assert attempt.status is AttemptStatus.FAILED and attempt.risk == blocked.risk
    assert await risky_world.card_network.lookup(attempt.id) is None  # never sent

    risky_world.clock.advance(minutes=2)
    assert (await risky_world.stored(await pay_with(risky_world, PLAIN_CARD))).status is (
        Status.SUCCEEDED
    )


async def test_published_test_cards_are_exempt_in_test_mode(
    risky_world: World, store: CountingVelocityStore
) -> None:
    for _ in range(8):
        intent_id = await pay_with(risky_world, PUBLISHED)
        assert (await risky_world.stored(intent_id)).status is Status.SUCCEEDED
    assert store.calls == 0


async def test_the_review_band_goes_through_3d_secure(risky_world: World) -> None:
    intent_id = await pay_with(risky_world, PLAIN_CARD, LARGE)
    intent = await risky_world.stored(intent_id)
    assert intent.status is Status.REQUIRES_ACTION
    assert intent.next_action is not None and "/3ds/" in intent.next_action.url
    assert intent.risk is not None and intent.risk.decision is Decision.REVIEW
    assert {r.rule for r in intent.risk.reasons} == {"large_amount", "first_time_card"}
    assert intent.risk.score == 60

    done = await risky_world.payments.complete_action(intent.latest_attempt, passed=True)
    assert done.status is Status.SUCCEEDED
    assert done.risk == intent.risk


async def test_the_intent_shows_the_latest_attempts_assessment_not_to_browsers(
    risky_world: World,
) -> None:
    intent_id = await pay_with(risky_world, PLAIN_CARD)
    intent = await risky_world.stored(intent_id)
    assert intent.risk is not None and intent.risk.score == 10  # first_time_card
    assert intent.browser_view().risk is None


async def test_the_device_fingerprint_is_optional_and_bounded(risky_world: World) -> None:
    intent = await risky_world.intent()
    with pytest.raises(InvalidArgument) as raised:
        await risky_world.payments.confirm(
            publishable_key(),
            intent.id,
            ConfirmPaymentIntent(
                payment_method=risky_world.token(),
                client_secret=intent.client_secret,
                device_fingerprint="x" * 129,
            ),
        )
    assert raised.value.violations[0].field == "device_fingerprint"
    paid = await risky_world.payments.confirm(
        publishable_key(),
        intent.id,
        ConfirmPaymentIntent(
            payment_method=risky_world.token(),
            client_secret=intent.client_secret,
            device_fingerprint="dev_" + "a" * 60,
        ),
    )
    assert paid.status is Status.SUCCEEDED
