"""Automatic capture as a sale: the authorization and its capture in one acquirer message.

docs/connectors.md, "Authorization and capture in one message (a sale)". Over the memory
unit of work, the zone and the card network simulator (which takes sales), spied on to
count the calls; `without_sales` stands for a connector that ignores the sale's capture
reference, as the connectors that cannot make one (UPI, wallets, net banking) do;
tests/unit/payments/test_psp_sale.py runs the JSON PSPs (Orbit, Kora), which take sales.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest

from core.payments.acquirer import (
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    OperationResult,
    RefundRequest,
    VoidRequest,
)
from core.payments.errors import PaymentFailed
from core.payments.model import AttemptStatus, PaymentAttempt, PaymentEvent, Status
from core.shared.money import Money
from core.unit_of_work import NOTHING_SAVED, Saved, UnitOfWork
from sandbox.acquirer import CardNetworkSimulator, NetworkReply, RequestKind
from sandbox.acquirer.card_network_simulator import NetworkHandler, NetworkRequest, default_handler
from sandbox.acquirer.card_network_transformers import NetworkCode
from sandbox.acquirer.simulation import Delivery
from tests.unit.payments.conftest import MERCHANT, WEB_BASE_URL, World, build_world, secret_key

APPROVED = "4242424242424242"
DECLINED = "4000000000000002"
CHALLENGE_CARD = "4000002760003184"
TIMEOUT_CARD = "4000000000000408"  # approved and recorded, the reply lost
MINUTE = timedelta(minutes=1)


@dataclass
class Spy:
    """The connector behind the zone, counting what it is asked; `without_sales` drops the
    sale's capture reference (a connector that cannot make a sale ignores it)."""

    network: CardNetworkSimulator
    without_sales: bool = False
    authorizations: list[AuthorizationRequest] = field(default_factory=list)
    captures: list[CaptureRequest] = field(default_factory=list)
    lookups: int = 0

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        self.authorizations.append(request)
        if self.without_sales:
            request = replace(request, capture_reference="")
        return await self.network.authorize(request)

    async def complete_challenge(self, attempt_reference: str, passed: bool) -> AuthorizationResult:
        return await self.network.complete_challenge(attempt_reference, passed)

    async def lookup(self, attempt_reference: str) -> AuthorizationResult | None:
        self.lookups += 1
        return await self.network.lookup(attempt_reference)

    async def capture(self, request: CaptureRequest) -> OperationResult:
        self.captures.append(request)
        return await self.network.capture(request)

    async def void(self, request: VoidRequest) -> OperationResult:
        return await self.network.void(request)

    async def refund(self, request: RefundRequest) -> OperationResult:
        return await self.network.refund(request)


@dataclass
class Books:
    """What the ledger is handed (core.ledger.payment_postings reads these): each event
    with the capture reference of the attempt saved with it."""

    seen: list[tuple[str, str | None, str, int | None, str]] = field(default_factory=list)

    async def record(
        self, uow: UnitOfWork, events: Sequence[PaymentEvent], saved: Saved = NOTHING_SAVED
    ) -> None:
        for event in events:
            attempt = saved.attempt_of(event.object_id)
            self.seen.append(
                (
                    event.kind.value,
                    event.from_status and event.from_status.value,
                    event.to_status.value,
                    event.amount,
                    attempt.capture_reference if attempt is not None else "",
                )
            )


@dataclass
class Setup:
    world: World
    spy: Spy
    books: Books


def setup(handler: NetworkHandler = default_handler, *, without_sales: bool = False) -> Setup:
    spy = Spy(
        CardNetworkSimulator(handler, challenge_base_url=WEB_BASE_URL), without_sales=without_sales
    )
    books = Books()
    return Setup(build_world(card_acquirer=spy, books=books), spy, books)


@pytest.fixture
async def sale() -> Setup:
    return setup()


async def attempt_of(world: World, intent_id: str) -> PaymentAttempt:
    async with world.uow() as uow:
        [attempt] = await uow.payment_attempts.for_intent(MERCHANT, intent_id)
    return attempt


def captured_at_acquirer(spy: Spy, attempt_id: str) -> list[OperationResult]:
    return list(spy.network._records[attempt_id].captures.values())


async def close(s: Setup) -> None:
    await s.world.upi.aclose()


# --- the sale ---------------------------------------------------------------------------


async def test_an_automatic_capture_is_one_call_a_sale(sale: Setup) -> None:
    world, spy = sale.world, sale.spy
    intent = await world.intent(2500)
    paid = await world.confirm_card(intent, APPROVED)

    assert (paid.status, paid.amount_received, paid.amount_capturable) == (
        Status.SUCCEEDED,
        2500,
        0,
    )
    attempt = await attempt_of(world, intent.id)
    assert attempt.status is AttemptStatus.CAPTURED
    assert (attempt.amount_authorized, attempt.amount_captured) == (2500, 2500)
    assert attempt.capture_reference == f"{attempt.id}_capture_1"
    [request] = spy.authorizations
    assert request.capture_reference == attempt.capture_reference
    assert spy.captures == []  # no second call
    [capture] = captured_at_acquirer(spy, attempt.id)
    assert (capture.reference, capture.amount) == (attempt.capture_reference, Money(2500, "USD"))
    assert [r.reference for r in spy.network.settlement] == [attempt.capture_reference]
    await close(sale)


async def test_a_sale_records_what_authorize_then_capture_records() -> None:
    """Same events, same capture reference handed to the ledger: the same entries."""
    ends = []
    for without_sales in (False, True):
        s = setup(without_sales=without_sales)
        intent = await s.world.intent(4100)
        paid = await s.world.confirm_card(intent, APPROVED)
        attempt = await attempt_of(s.world, intent.id)
        async with s.world.uow() as uow:
            events = await uow.payment_events.for_intent(MERCHANT, intent.id)
        ends.append(
            (
                paid.status,
                paid.amount_received,
                attempt.status,
                attempt.amount_captured,
                attempt.capture_reference.removeprefix(attempt.id),
                [(e.kind, e.from_status, e.to_status, e.amount, e.actor) for e in events],
                [(*seen[:4], seen[4].removeprefix(attempt.id)) for seen in s.books.seen],
                [r.reference.removeprefix(attempt.id) for r in s.spy.network.settlement],
            )
        )
        assert len(s.spy.captures) == (1 if without_sales else 0)
        await close(s)
    assert ends[0] == ends[1]
    assert ("STATUS_CHANGED", "PROCESSING", "SUCCEEDED", 4100, "_capture_1") in ends[0][6]


async def test_a_declined_sale_captures_nothing() -> None:
    s = setup()
    intent = await s.world.intent()
    with pytest.raises(PaymentFailed) as raised:
        await s.world.confirm_card(intent, DECLINED)
    assert raised.value.reason == "CARD_DECLINED"
    stored = await s.world.stored(intent.id)
    assert (stored.status, stored.amount_received) == (Status.REQUIRES_PAYMENT_METHOD, 0)
    attempt = await attempt_of(s.world, intent.id)
    assert attempt.status is AttemptStatus.FAILED and attempt.amount_captured == 0
    assert captured_at_acquirer(s.spy, attempt.id) == [] and s.spy.network.settlement == []
    assert s.spy.captures == []
    await close(s)


async def test_a_manual_capture_sends_no_sale(sale: Setup) -> None:
    world, spy = sale.world, sale.spy
    intent = await world.paid(3000, manual=True)
    assert intent.status is Status.REQUIRES_CAPTURE
    [request] = spy.authorizations
    assert request.capture_reference == ""
    assert captured_at_acquirer(spy, intent.latest_attempt) == []
    done = await world.payments.capture(secret_key(), intent.id)
    assert done.status is Status.SUCCEEDED and len(spy.captures) == 1
    await close(sale)


async def test_a_connector_without_sales_keeps_the_two_calls() -> None:
    s = setup(without_sales=True)
    intent = await s.world.intent(2000)
    paid = await s.world.confirm_card(intent, APPROVED)
    assert paid.status is Status.SUCCEEDED
    attempt = await attempt_of(s.world, intent.id)
    [capture] = s.spy.captures
    assert capture.capture_reference == attempt.capture_reference == f"{attempt.id}_capture_1"
    assert len(captured_at_acquirer(s.spy, attempt.id)) == 1
    await close(s)


async def test_a_challenged_sale_is_an_authorization_captured_after_the_challenge() -> None:
    s = setup()
    intent = await s.world.intent(1500)
    challenged = await s.world.confirm_card(intent, CHALLENGE_CARD)
    assert challenged.status is Status.REQUIRES_ACTION
    attempt = await attempt_of(s.world, intent.id)
    assert captured_at_acquirer(s.spy, attempt.id) == []
    done = await s.world.payments.complete_action(attempt.id, True)
    assert (done.status, done.amount_received) == (Status.SUCCEEDED, 1500)
    [capture] = s.spy.captures
    assert capture.capture_reference == f"{attempt.id}_capture_1"
    assert len(captured_at_acquirer(s.spy, attempt.id)) == 1
    await close(s)


async def test_a_sale_whose_capture_is_refused_waits_for_a_capture() -> None:
    """As a refused capture call: AUTHORIZED, the intent REQUIRES_CAPTURE, nothing taken."""

    def refuse_capture(request: NetworkRequest) -> NetworkReply:
        if request.kind is RequestKind.CAPTURE:
            return NetworkReply(NetworkCode.DO_NOT_HONOR)
        return default_handler(request)

    s = setup(refuse_capture)
    intent = await s.world.intent(2000)
    answered = await s.world.confirm_card(intent, APPROVED)
    assert answered.status is Status.REQUIRES_CAPTURE
    assert answered.last_payment_error is not None
    assert answered.last_payment_error.code == "CAPTURE_FAILED"
    attempt = await attempt_of(s.world, intent.id)
    assert attempt.status is AttemptStatus.AUTHORIZED and attempt.amount_captured == 0
    assert s.spy.network.settlement == [] and s.spy.captures == []
    assert not [seen for seen in s.books.seen if seen[2] == "SUCCEEDED"]
    await close(s)


# --- a lost answer and recovery -------------------------------------------------------


async def test_a_lost_sale_answer_is_recovered_authorized_and_captured_once() -> None:
    s = setup()
    world, spy = s.world, s.spy
    intent = await world.intent(5000)
    answered = await world.confirm_card(intent, TIMEOUT_CARD)
    assert answered.status is Status.PROCESSING  # outcome unknown, never a decline
    attempt = await attempt_of(world, intent.id)
    assert attempt.status is AttemptStatus.PROCESSING
    assert len(captured_at_acquirer(spy, attempt.id)) == 1  # the acquirer made the sale

    world.clock.advance(minutes=2)
    assert await world.payments.recover_stuck_attempts(MINUTE) == [attempt.id]
    stored = await world.stored(intent.id)
    assert (stored.status, stored.amount_received) == (Status.SUCCEEDED, 5000)
    attempt = await attempt_of(world, intent.id)
    assert attempt.status is AttemptStatus.CAPTURED and attempt.amount_captured == 5000
    assert spy.captures == []  # found captured: no capture sent
    assert len(captured_at_acquirer(spy, attempt.id)) == 1

    # Asked again (a late sync, a second worker): nothing more is recorded.
    again = await world.payments.sync_attempt(attempt.id, give_up=True)
    assert again == stored
    world.clock.advance(minutes=10)
    assert await world.payments.recover_stuck_attempts(MINUTE) == []
    succeeded = [seen for seen in s.books.seen if seen[2] == "SUCCEEDED"]
    capture_reference = f"{attempt.id}_capture_1"
    assert succeeded == [("STATUS_CHANGED", "PROCESSING", "SUCCEEDED", 5000, capture_reference)]
    await close(s)


async def test_a_lost_sale_that_never_arrived_fails_on_recovery() -> None:
    def lose_request(request: NetworkRequest) -> NetworkReply:
        if request.kind is RequestKind.AUTHORIZE:
            return NetworkReply(NetworkCode.APPROVED, delivery=Delivery.REQUEST_LOST)
        return default_handler(request)

    s = setup(lose_request)
    intent = await s.world.intent()
    assert (await s.world.confirm_card(intent)).status is Status.PROCESSING
    attempt = await attempt_of(s.world, intent.id)
    s.world.clock.advance(minutes=10)
    assert await s.world.payments.recover_stuck_attempts(MINUTE) == [attempt.id]
    stored = await s.world.stored(intent.id)
    assert (stored.status, stored.amount_received) == (Status.REQUIRES_PAYMENT_METHOD, 0)
    assert stored.last_payment_error is not None
    assert stored.last_payment_error.code == "ACQUIRER_UNAVAILABLE"
    assert (await attempt_of(s.world, intent.id)).status is AttemptStatus.FAILED
    assert s.spy.captures == [] and s.spy.network.settlement == []
    assert not [seen for seen in s.books.seen if seen[2] == "SUCCEEDED"]
    await close(s)


async def test_recovery_captures_an_approval_found_without_its_capture() -> None:
    """A connector without sales lost the authorization's answer: recovery finds it
    approved and not captured, and sends the capture, once, with the same reference."""
    s = setup(lambda r: default_handler(r), without_sales=True)
    intent = await s.world.intent(2200)
    assert (await s.world.confirm_card(intent, TIMEOUT_CARD)).status is Status.PROCESSING
    attempt = await attempt_of(s.world, intent.id)
    assert captured_at_acquirer(s.spy, attempt.id) == []
    s.world.clock.advance(minutes=2)
    await s.world.payments.recover_stuck_attempts(MINUTE)
    stored = await s.world.stored(intent.id)
    assert (stored.status, stored.amount_received) == (Status.SUCCEEDED, 2200)
    [capture] = s.spy.captures
    assert capture.capture_reference == f"{attempt.id}_capture_1"
    assert len(captured_at_acquirer(s.spy, attempt.id)) == 1
    await close(s)


async def test_a_capture_the_answer_names_otherwise_is_not_recorded() -> None:
    """An answer whose capture has another reference (or amount) than the attempt's is
    not taken for its capture: the attempt waits in CAPTURE_PENDING and the capture call,
    with the attempt's own reference, decides."""
    s = setup()
    real_authorize = s.spy.network.authorize

    async def misnamed(request: AuthorizationRequest) -> AuthorizationResult:
        result = await real_authorize(request)
        assert result.capture is not None
        return replace(result, capture=replace(result.capture, reference="cap_other"))

    s.spy.network.authorize = misnamed  # type: ignore[method-assign]
    intent = await s.world.intent(2000)
    answered = await s.world.confirm_card(intent, APPROVED)
    attempt = await attempt_of(s.world, intent.id)
    # The capture call (same reference as the sale's) answers the sale's capture.
    [capture] = s.spy.captures
    assert capture.capture_reference == attempt.capture_reference
    assert (answered.status, answered.amount_received) == (Status.SUCCEEDED, 2000)
    assert len(captured_at_acquirer(s.spy, attempt.id)) == 1
    await close(s)
