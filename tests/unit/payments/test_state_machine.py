"""The intent lifecycle against a model, with hypothesis: random sequences of create,
confirm (every test card), 3-D Secure, sync, capture (partial, too much), cancel, refund
(partial, too much) and the passing of time (expiry, voiding, recovery).

After every step: the stored intent is what the model predicts, money adds up (on the
intent, on the attempts and in the acquirer's books), the history is one unbroken chain
of legal transitions, and at most one attempt per intent holds money.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.model import (
    CONFIRMABLE,
    TRANSITIONS,
    AttemptStatus,
    PaymentIntent,
    PaymentPolicy,
    Status,
)
from core.payments.refunds import CreateRefund
from core.shared.errors import FailedPrecondition
from tests.unit.payments.conftest import MERCHANT, World, build_world, secret_key

T = TypeVar("T")
S = Status

CARDS = {
    "4242424242424242": "approve",
    "5555555555554444": "approve",
    "378282246310005": "approve",
    "4000000000000259": "approve",
    "4000000000000002": "decline",
    "4000000000009995": "decline",
    "4000000000000069": "decline",
    "4000000000000127": "decline",
    "4000000000000119": "decline",  # processing_error: fails the attempt like a decline
    "4100000000000019": "decline",  # risk-blocked: too
    "4000002760003184": "challenge",
    "4000000000000408": "timeout",
}
MAX_FAILED = PaymentPolicy().max_failed_attempts
RECOVER_AFTER = timedelta(minutes=1)


@dataclass
class Expected:
    amount: int
    manual: bool
    created: datetime
    status: Status = S.REQUIRES_PAYMENT_METHOD
    capturable: int = 0
    received: int = 0
    refunded: int = 0
    failed: int = 0
    since: datetime | None = None  # when the current attempt last changed
    capture_before: datetime | None = None


class PaymentsMachine(RuleBasedStateMachine):
    intents = Bundle("intents")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.world: World = build_world()
        self.expected: dict[str, Expected] = {}

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def refused(self, coroutine: Coroutine[Any, Any, object], *reasons: str) -> None:
        try:
            self.run(coroutine)
        except FailedPrecondition as error:
            assert error.reason in reasons, (error.reason, reasons)
        else:
            raise AssertionError(f"expected one of {reasons}")

    def teardown(self) -> None:
        self.run(self.world.upi.aclose())
        self.loop.close()

    @property
    def now(self) -> datetime:
        return self.world.clock.now()

    # --- outcomes the model knows -----------------------------------------------------

    def approved(self, model: Expected) -> None:
        if model.manual:
            model.status, model.capturable = S.REQUIRES_CAPTURE, model.amount
            model.capture_before = self.now + PaymentPolicy().authorization_ttl
        else:
            model.status, model.received, model.capturable = S.SUCCEEDED, model.amount, 0
        model.since = self.now

    def failed(self, model: Expected) -> None:
        model.status, model.failed, model.since = S.REQUIRES_PAYMENT_METHOD, model.failed + 1, None

    # --- rules ------------------------------------------------------------------------

    @rule(target=intents, amount=st.integers(1, 10**7), manual=st.booleans())
    def create(self, amount: int, manual: bool) -> str:
        intent = self.run(self.world.intent(amount, manual=manual))
        self.expected[intent.id] = Expected(amount, manual, self.now)
        return intent.id

    @rule(target=intents, amount=st.integers(1, 10**7), manual=st.booleans())
    def create_and_pay(self, amount: int, manual: bool) -> str:
        """A shortcut to the states where capture, cancel and refund have work to do."""
        intent_id = self.create(amount, manual)
        self.confirm(intent_id, "4242424242424242")
        return intent_id

    @rule(intent_id=intents, number=st.sampled_from(sorted(CARDS)))
    def confirm(self, intent_id: str, number: str) -> None:
        model = self.expected[intent_id]
        call = self.world.payments.confirm(
            secret_key(),
            intent_id,
            ConfirmPaymentIntent(payment_method=self.world.token(number)),
        )
        if model.status not in CONFIRMABLE:
            return self.refused(call, "PAYMENT_INTENT_UNEXPECTED_STATE")
        if model.failed >= MAX_FAILED:
            return self.refused(call, "ATTEMPTS_EXHAUSTED")
        outcome = CARDS[number]
        if outcome == "decline":
            self.refused(call, "CARD_DECLINED", "PROCESSING_ERROR", "RISK_BLOCKED")
            return self.failed(model)
        self.run(call)
        if outcome == "approve":
            self.approved(model)
        elif outcome == "challenge":
            model.status, model.since = S.REQUIRES_ACTION, self.now
        else:
            model.status, model.since = S.PROCESSING, self.now
        return None

    @rule(intent_id=intents, passed=st.booleans())
    def finish_challenge(self, intent_id: str, passed: bool) -> None:
        model = self.expected[intent_id]
        attempt = self.run(self.world.stored(intent_id)).latest_attempt
        if not attempt:
            return
        self.run(self.world.payments.complete_action(attempt, passed))
        if model.status is S.REQUIRES_ACTION:
            self.approved(model) if passed else self.failed(model)

    @rule(intent_id=intents)
    def sync(self, intent_id: str) -> None:
        model = self.expected[intent_id]
        attempt = self.run(self.world.stored(intent_id)).latest_attempt
        if not attempt:
            return
        self.run(self.world.payments.sync_attempt(attempt))
        if model.status is S.PROCESSING:  # only a lost reply leaves it there
            self.approved(model)

    @rule(
        intent_id=intents,
        how=st.sampled_from(["all", "part", "exactly all", "one too many", "any"]),
        percent=st.integers(1, 150),
    )
    def capture(self, intent_id: str, how: str, percent: int) -> None:
        model = self.expected[intent_id]
        amount = {
            "all": 0,
            "part": max(model.capturable * percent // 150, 1),
            "exactly all": model.capturable,
            "one too many": model.capturable + 1,
        }.get(how, model.capturable * percent // 100)
        call = self.world.payments.capture(secret_key(), intent_id, amount)
        if model.status is not S.REQUIRES_CAPTURE:
            return self.refused(call, "PAYMENT_INTENT_UNEXPECTED_STATE")
        if amount > model.capturable:
            return self.refused(call, "AMOUNT_TOO_LARGE")
        self.run(call)
        model.status, model.received = S.SUCCEEDED, amount or model.capturable
        model.capturable, model.capture_before = 0, None
        return None

    @rule(intent_id=intents)
    def cancel(self, intent_id: str) -> None:
        model = self.expected[intent_id]
        call = self.world.payments.cancel(secret_key(), intent_id, "abandoned")
        if model.status not in CONFIRMABLE | {S.REQUIRES_CAPTURE, S.REQUIRES_ACTION}:
            return self.refused(call, "PAYMENT_INTENT_UNEXPECTED_STATE")
        self.run(call)
        model.status, model.capturable, model.capture_before = S.CANCELED, 0, None
        return None

    @rule(
        intent_id=intents,
        how=st.sampled_from(["rest", "part", "all", "one too many", "any"]),
        amount=st.integers(1, 10**7),
    )
    def refund(self, intent_id: str, how: str, amount: int) -> None:
        model = self.expected[intent_id]
        refundable = model.received - model.refunded
        amount = {
            "rest": 0,
            "part": max(refundable // 3, 1),
            "all": refundable,
            "one too many": refundable + 1,
        }.get(how, amount)
        call = self.world.refunds.create(
            secret_key(), CreateRefund(payment_intent=intent_id, amount=amount)
        )
        if model.status is not S.SUCCEEDED:
            return self.refused(call, "PAYMENT_INTENT_UNEXPECTED_STATE")
        if refundable == 0:
            return self.refused(call, "CHARGE_ALREADY_REFUNDED", "AMOUNT_TOO_LARGE")
        if amount > refundable:
            return self.refused(call, "AMOUNT_TOO_LARGE")
        self.run(call)
        model.refunded += amount or refundable
        return None

    @rule(minutes=st.sampled_from([2, 2, 2, 30, 59, 61, 60 * 24 * 7 + 1]))
    def time_passes(self, minutes: int) -> None:
        self.world.clock.advance(minutes=minutes)
        payments = self.world.payments
        expired = set(self.run(payments.expire_unconfirmed(limit=1000)))
        voided = set(self.run(payments.void_expired_authorizations(limit=1000)))
        self.run(payments.recover_stuck_attempts(RECOVER_AFTER, limit=1000))
        for intent_id, model in self.expected.items():
            due = model.status in CONFIRMABLE and model.created < self.now - timedelta(hours=1)
            assert (intent_id in expired) == due, intent_id
            late = model.status is S.REQUIRES_CAPTURE
            late = late and model.capture_before is not None and model.capture_before <= self.now
            assert (intent_id in voided) == late, intent_id
            if due or late:
                model.status, model.capturable, model.capture_before = S.CANCELED, 0, None
            elif model.status is S.PROCESSING:  # recovered: the acquirer had approved
                self.approved(model)

    # --- invariants -------------------------------------------------------------------

    @invariant()
    def the_books_agree(self) -> None:
        async def load() -> list[tuple[PaymentIntent, list[Any], list[Any]]]:
            rows = []
            async with self.world.uow() as uow:
                for intent_id in self.expected:
                    intent = await uow.payment_intents.get(MERCHANT, intent_id)
                    assert intent is not None
                    attempts = list(await uow.payment_attempts.for_intent(MERCHANT, intent_id))
                    events = list(await uow.payment_events.for_intent(MERCHANT, intent_id))
                    rows.append((intent, attempts, events))
            return rows

        for intent, attempts, events in self.run(load()):
            model = self.expected[intent.id]
            assert intent.status is model.status, (intent.id, intent.status, model)
            assert (intent.amount_capturable, intent.amount_received, intent.amount_refunded) == (
                model.capturable,
                model.received,
                model.refunded,
            )
            assert intent.failed_attempts == model.failed
            assert 0 <= intent.amount_capturable + intent.amount_received <= intent.amount
            assert 0 <= intent.amount_refunded <= intent.amount_received
            if intent.amount_capturable:
                assert intent.status in (S.REQUIRES_CAPTURE, S.PROCESSING)

            live = [a for a in attempts if a.status is not AttemptStatus.FAILED]
            assert len(live) <= 1
            assert len(attempts) == intent.attempts
            for attempt in live:
                assert attempt.id == intent.latest_attempt
                assert attempt.amount_captured == intent.amount_received
                books = self.world.card_network._records.get(attempt.id)
                if books is not None and attempt.status is AttemptStatus.PROCESSING:
                    # A sale whose answer was lost: the acquirer may hold its capture,
                    # which recovery records; nothing more.
                    assert books.captured in (0, attempt.amount)
                    assert intent.amount_received == 0
                elif books is not None:
                    assert books.captured == intent.amount_received
                    assert books.refunded == intent.amount_refunded

            previous: Status | None = None
            for event in events:
                assert event.from_status is previous, (intent.id, events)
                if previous is not None and previous is not event.to_status:
                    assert event.to_status in TRANSITIONS[previous]
                previous = event.to_status
            assert previous is intent.status


PaymentsMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_payment_state_machine = PaymentsMachine.TestCase
