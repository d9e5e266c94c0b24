"""The simulated card network: every test card of API.md, and the knobs tests turn."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from core.payments.acquirer import (
    AcquirerRejected,
    AcquirerTimeout,
    AuthorizationOutcome,
    AuthorizationRequest,
    CaptureRequest,
    Card,
    DeclineCode,
    DisputeReason,
    NextActionType,
    OperationStatus,
    RejectionCode,
    VoidRequest,
)
from core.shared.money import Money
from core.shared.secret import Secret
from sandbox.acquirer import (
    CardNetworkSimulator,
    Delivery,
    NetworkReply,
    NetworkRequest,
    RequestKind,
)
from sandbox.acquirer.card_network_simulator import NetworkHandler, default_handler, luhn_valid
from sandbox.acquirer.card_network_transformers import NetworkCode
from tests.fakes import FixedClock

Out = AuthorizationOutcome
D = DeclineCode
MERCHANT = "acct_sim"
_refs = itertools.count(1)


def ref(prefix: str = "pa") -> str:
    return f"{prefix}_card_{next(_refs):06d}"


def card(number: str, brand: str = "visa", *, exp: tuple[int, int] = (12, 2099)) -> Card:
    return Card(Secret(number), exp_month=exp[0], exp_year=exp[1], brand=brand, cvc=Secret("314"))


def authorization(number: str, brand: str = "visa", amount: int = 2000) -> AuthorizationRequest:
    return AuthorizationRequest(ref(), MERCHANT, Money(amount, "USD"), card(number, brand))


class CountingHandler:
    """Wraps a handler and counts what reached the network."""

    def __init__(self, handler: NetworkHandler = default_handler) -> None:
        self.handler = handler
        self.seen: list[NetworkRequest] = []

    def __call__(self, request: NetworkRequest) -> NetworkReply:
        self.seen.append(request)
        return self.handler(request)

    def count(self, kind: RequestKind) -> int:
        return sum(1 for r in self.seen if r.kind is kind)


# --- the test cards --------------------------------------------------------------------

TEST_CARDS = [
    ("4242424242424242", "visa", Out.APPROVED, None),
    ("5555555555554444", "mastercard", Out.APPROVED, None),
    ("378282246310005", "amex", Out.APPROVED, None),
    ("6011111111111117", "discover", Out.APPROVED, None),  # any other Luhn-valid number
    ("4000000000000002", "visa", Out.DECLINED, D.GENERIC_DECLINE),
    ("4000000000009995", "visa", Out.DECLINED, D.INSUFFICIENT_FUNDS),
    ("4000000000000069", "visa", Out.DECLINED, D.EXPIRED_CARD),
    ("4000000000000127", "visa", Out.DECLINED, D.INCORRECT_CVC),
    ("4000000000000119", "visa", Out.PROCESSING_ERROR, D.PROCESSING_ERROR),
    ("4000002760003184", "visa", Out.REQUIRES_ACTION, None),
    ("4100000000000019", "visa", Out.RISK_BLOCKED, D.FRAUDULENT),
    ("4000000000000259", "visa", Out.APPROVED, None),
    ("4242424242424241", "visa", Out.DECLINED, D.INCORRECT_NUMBER),  # fails the Luhn check
]


@pytest.mark.parametrize(("number", "brand", "outcome", "decline_code"), TEST_CARDS)
async def test_each_test_card_ends_as_documented(
    number: str, brand: str, outcome: AuthorizationOutcome, decline_code: DeclineCode | None
) -> None:
    network = CardNetworkSimulator()
    result = await network.authorize(authorization(number, brand))
    assert result.outcome is outcome
    assert result.decline_code is decline_code
    assert (result.authorization_code != "") is (outcome is Out.APPROVED)
    assert result.message
    assert await network.lookup(result.attempt_reference) == result


async def test_processing_error_is_retryable_and_declines_are_not() -> None:
    network = CardNetworkSimulator()
    error = await network.authorize(authorization("4000000000000119"))
    decline = await network.authorize(authorization("4000000000000002"))
    assert error.retryable and not decline.retryable


async def test_a_challenge_the_gateway_asks_for_comes_before_the_issuers_answer() -> None:
    network = CardNetworkSimulator()
    request = replace(authorization("4000056655665556"), require_authentication=True)
    challenged = await network.authorize(request)
    assert challenged.outcome is AuthorizationOutcome.REQUIRES_ACTION
    assert challenged.next_action is not None
    passed = await network.complete_challenge(request.attempt_reference, True)
    assert passed.outcome is AuthorizationOutcome.APPROVED

    declined = replace(authorization("4000000000000002"), require_authentication=True)
    assert (await network.authorize(declined)).outcome is AuthorizationOutcome.REQUIRES_ACTION
    after = await network.complete_challenge(declined.attempt_reference, True)
    assert after.outcome is AuthorizationOutcome.DECLINED


async def test_a_past_expiry_date_declines_as_expired_card() -> None:
    clock = FixedClock(datetime(2030, 6, 15, tzinfo=UTC))
    network = CardNetworkSimulator(clock=clock)
    expired = AuthorizationRequest(
        ref(), MERCHANT, Money(100, "USD"), card("4242424242424242", exp=(5, 2030))
    )
    this_month = AuthorizationRequest(
        ref(), MERCHANT, Money(100, "USD"), card("4242424242424242", exp=(6, 2030))
    )
    assert (await network.authorize(expired)).decline_code is D.EXPIRED_CARD
    assert (await network.authorize(this_month)).outcome is Out.APPROVED


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4242424242424242", True),
        ("378282246310005", True),
        ("4242424242424241", False),
        ("42424242424242a2", False),
        ("", False),
        ("00000000000", False),  # too short
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


# --- idempotency and timeouts ----------------------------------------------------------


async def test_same_reference_reaches_the_network_once() -> None:
    handler = CountingHandler()
    network = CardNetworkSimulator(handler)
    request = authorization("4242424242424242")
    first = await network.authorize(request)
    assert await network.authorize(request) == first
    await asyncio.gather(*(network.authorize(request) for _ in range(5)))
    assert handler.count(RequestKind.AUTHORIZE) == 1


async def test_timeout_card_is_approved_but_the_reply_is_lost() -> None:
    handler = CountingHandler()
    network = CardNetworkSimulator(handler)
    request = authorization("4000000000000408")
    with pytest.raises(AcquirerTimeout) as caught:
        await network.authorize(request)
    assert caught.value.reference == request.attempt_reference
    found = await network.lookup(request.attempt_reference)
    assert found is not None and found.outcome is Out.APPROVED
    assert await network.authorize(request) == found  # asked again: the recorded answer
    assert handler.count(RequestKind.AUTHORIZE) == 1


async def test_lost_request_leaves_nothing_behind() -> None:
    lose = True

    def flaky(request: NetworkRequest) -> NetworkReply:
        if lose:
            return NetworkReply(NetworkCode.APPROVED, delivery=Delivery.REQUEST_LOST)
        return default_handler(request)

    network = CardNetworkSimulator(flaky)
    request = authorization("4242424242424242")
    with pytest.raises(AcquirerTimeout):
        await network.authorize(request)
    assert await network.lookup(request.attempt_reference) is None  # safe to send again
    lose = False
    assert (await network.authorize(request)).outcome is Out.APPROVED


async def test_capture_reply_lost_then_retried_with_the_same_reference() -> None:
    lost_once = iter([True])

    def handler(request: NetworkRequest) -> NetworkReply:
        if request.kind is RequestKind.CAPTURE and next(lost_once, False):
            return NetworkReply(NetworkCode.APPROVED, delivery=Delivery.REPLY_LOST)
        return default_handler(request)

    network = CardNetworkSimulator(handler)
    attempt = (await network.authorize(authorization("4242424242424242"))).attempt_reference
    capture = CaptureRequest(attempt, ref("cap"), MERCHANT, Money(2000, "USD"))
    with pytest.raises(AcquirerTimeout):
        await network.capture(capture)
    retried = await network.capture(capture)
    assert retried.status is OperationStatus.SUCCEEDED
    with pytest.raises(AcquirerRejected):  # it was captured once, in full
        await network.capture(CaptureRequest(attempt, ref("cap"), MERCHANT, Money(1, "USD")))


# --- handlers force outcomes -----------------------------------------------------------


async def test_a_handler_forces_any_network_code() -> None:
    network = CardNetworkSimulator(lambda request: NetworkReply(NetworkCode.INSUFFICIENT_FUNDS))
    result = await network.authorize(authorization("4242424242424242"))
    assert (result.outcome, result.decline_code) == (Out.DECLINED, D.INSUFFICIENT_FUNDS)
    assert result.acquirer_code == "51"


async def test_an_unknown_network_code_is_a_generic_decline() -> None:
    network = CardNetworkSimulator(lambda request: NetworkReply("Q7"))
    result = await network.authorize(authorization("4242424242424242"))
    assert (result.outcome, result.decline_code, result.acquirer_code) == (
        Out.DECLINED,
        D.GENERIC_DECLINE,
        "Q7",
    )


async def test_a_failed_capture_captures_nothing() -> None:
    def handler(request: NetworkRequest) -> NetworkReply:
        if request.kind is RequestKind.CAPTURE and request.amount.amount == 999:
            return NetworkReply(NetworkCode.SYSTEM_MALFUNCTION)
        return default_handler(request)

    network = CardNetworkSimulator(handler)
    attempt = (await network.authorize(authorization("4242424242424242"))).attempt_reference
    failed_request = CaptureRequest(attempt, ref("cap"), MERCHANT, Money(999, "USD"))
    failed = await network.capture(failed_request)
    assert failed.status is OperationStatus.FAILED
    assert failed.failure_code is D.PROCESSING_ERROR
    assert await network.capture(failed_request) == failed  # recorded under its reference
    full = await network.capture(CaptureRequest(attempt, ref("cap"), MERCHANT, Money(2000, "USD")))
    assert full.status is OperationStatus.SUCCEEDED


async def test_latency_sleeps_the_configured_duration() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    network = CardNetworkSimulator(latency=0.25, sleep=sleep)
    result = await network.authorize(authorization("4242424242424242"))
    await network.lookup(result.attempt_reference)
    assert slept == [0.25, 0.25]


# --- 3-D Secure ------------------------------------------------------------------------


async def test_challenge_redirects_to_the_gateways_3ds_page() -> None:
    network = CardNetworkSimulator(challenge_base_url="https://pay.example.com/")
    result = await network.authorize(authorization("4000002760003184"))
    assert result.next_action is not None
    assert result.next_action.type == NextActionType.REDIRECT_TO_URL
    assert result.next_action.url == f"https://pay.example.com/3ds/{result.attempt_reference}"


async def test_challenge_passed_is_authorized_at_the_network_once() -> None:
    handler = CountingHandler()
    network = CardNetworkSimulator(handler)
    pending = await network.authorize(authorization("4000002760003184"))
    approved = await network.complete_challenge(pending.attempt_reference, passed=True)
    assert approved.outcome is Out.APPROVED
    assert approved.acquirer_reference == pending.acquirer_reference
    assert handler.seen[-1].authenticated
    await network.complete_challenge(pending.attempt_reference, passed=True)
    assert handler.count(RequestKind.AUTHORIZE) == 2  # the soft decline, then the real one


async def test_challenge_failed_is_declined_without_asking_the_network() -> None:
    handler = CountingHandler()
    network = CardNetworkSimulator(handler)
    pending = await network.authorize(authorization("4000002760003184"))
    declined = await network.complete_challenge(pending.attempt_reference, passed=False)
    assert (declined.outcome, declined.decline_code) == (Out.DECLINED, D.AUTHENTICATION_FAILED)
    assert declined.acquirer_code == "N"  # EMV 3DS transStatus
    assert handler.count(RequestKind.AUTHORIZE) == 1


async def test_challenge_after_a_void_stays_canceled() -> None:
    network = CardNetworkSimulator()
    pending = await network.authorize(authorization("4000002760003184"))
    await network.void(VoidRequest(pending.attempt_reference, MERCHANT))
    result = await network.complete_challenge(pending.attempt_reference, passed=True)
    assert result.outcome is Out.CANCELED


# --- disputes --------------------------------------------------------------------------


async def test_dispute_card_is_disputed_as_fraudulent_after_capture() -> None:
    clock = FixedClock(datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC))
    network = CardNetworkSimulator(clock=clock)
    approved = await network.authorize(authorization("4000000000000259", amount=5000))
    assert approved.outcome is Out.APPROVED
    assert await network.disputes_since() == []  # nothing until money moves

    capture = CaptureRequest(approved.attempt_reference, ref("cap"), MERCHANT, Money(5000, "USD"))
    await network.capture(capture)
    [dispute] = await network.disputes_since()
    assert dispute.reason is DisputeReason.FRAUDULENT
    assert dispute.attempt_reference == approved.attempt_reference
    assert dispute.capture_reference == capture.capture_reference
    assert dispute.merchant_id == MERCHANT
    assert dispute.amount == Money(5000, "USD")
    assert dispute.opened_at == clock.now()
    assert dispute.dispute_reference
    assert await network.disputes_since(dispute.sequence) == []


async def test_ordinary_cards_are_not_disputed() -> None:
    network = CardNetworkSimulator()
    approved = await network.authorize(authorization("4242424242424242"))
    await network.capture(
        CaptureRequest(approved.attempt_reference, ref("cap"), MERCHANT, Money(2000, "USD"))
    )
    assert await network.disputes_since() == []


# --- secrecy ---------------------------------------------------------------------------


async def test_card_number_and_cvc_never_show() -> None:
    network = CardNetworkSimulator()
    request = authorization("4000000000000408")
    with pytest.raises(AcquirerTimeout) as caught:
        await network.authorize(request)
    shown = " ".join(
        (repr(request), str(caught.value), repr(await network.lookup(request.attempt_reference)))
    )
    assert "4000000000000408" not in shown
    assert "314" not in repr(request.source)
    assert isinstance(request.source, Card) and request.source.last4 == "0408"


async def test_capture_of_an_unknown_attempt_is_rejected() -> None:
    network = CardNetworkSimulator()
    with pytest.raises(AcquirerRejected) as caught:
        await network.capture(CaptureRequest("pa_nope", "cap_1", MERCHANT, Money(1, "USD")))
    assert caught.value.code is RejectionCode.UNKNOWN_REFERENCE
