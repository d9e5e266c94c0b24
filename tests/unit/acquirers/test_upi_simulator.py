"""The simulated UPI switch: VPA rules, collect requests, asynchronous completion."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qsl, urlsplit

import pytest

from core.payments.acquirer import (
    AcquirerRejected,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    Card,
    DeclineCode,
    InvalidPaymentDetails,
    NextActionType,
    RejectionCode,
    Upi,
    VoidRequest,
)
from core.shared.errors import InvalidArgument
from core.shared.money import Money
from core.shared.secret import Secret
from sandbox.acquirer import CollectPlan, CollectRequest, UpiSimulator

Out = AuthorizationOutcome
MERCHANT = "acct_upi"
_refs = itertools.count(1)


def collect(vpa: str, amount: int = 10050, **kwargs: str) -> AuthorizationRequest:
    return AuthorizationRequest(
        f"pa_upi_{next(_refs):06d}", MERCHANT, Money(amount, "INR"), Upi(vpa), **kwargs
    )


class Gate:
    """An injectable sleep that returns only when the test opens the gate."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self.opened.wait()


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., UpiSimulator]]:
    made: list[UpiSimulator] = []

    def factory(**kwargs: object) -> UpiSimulator:
        kwargs.setdefault("approval_delay", 0)
        simulator = UpiSimulator(**kwargs)  # type: ignore[arg-type]
        made.append(simulator)
        return simulator

    yield factory
    for simulator in made:
        await simulator.aclose()


# --- VPA validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "vpa",
    [
        "",
        "success",
        "a@upi",  # user part too short
        "alice@",
        "@upi",
        "alice@@upi",
        "alice@ok axis",
        "alice@upi.com",  # a handle has no dots
        "alice@1upi",  # a handle starts with a letter
        ".alice@upi",
        "al ice@upi",
        "alice@up\ni",
        "x" * 257 + "@upi",
    ],
)
async def test_invalid_vpa_names_the_field(make: Callable[..., UpiSimulator], vpa: str) -> None:
    upi = make()
    with pytest.raises(InvalidPaymentDetails) as caught:
        await upi.authorize(collect(vpa))
    assert caught.value.field == "upi.vpa"
    assert caught.value.code is RejectionCode.INVALID_PAYMENT_DETAILS
    api_error = caught.value.to_invalid_argument()
    assert isinstance(api_error, InvalidArgument)
    assert api_error.metadata["param"] == "upi.vpa"


@pytest.mark.parametrize(
    "vpa", ["success@upi", " Success@UPI ", "alice.smith-1_x@okaxis", "9876543210@ybl"]
)
async def test_valid_vpas_start_a_collect(make: Callable[..., UpiSimulator], vpa: str) -> None:
    result = await make(collect_expiry=3600).authorize(collect(vpa))
    assert result.outcome is Out.REQUIRES_ACTION


# --- the collect request ---------------------------------------------------------------


async def test_collect_carries_a_deep_link_and_a_qr_code(
    make: Callable[..., UpiSimulator],
) -> None:
    upi = make(payee_vpa="Shop@OkAxis")
    request = collect("success@upi", merchant_name="Chai & Co", description="Order 42")
    result = await upi.authorize(request)
    assert result.outcome is Out.REQUIRES_ACTION
    assert result.decline_code is None
    action = result.next_action
    assert action is not None
    assert action.type == NextActionType.UPI_COLLECT
    assert action.url.startswith("upi://pay?pa=shop@okaxis&pn=Chai%20%26%20Co&am=100.50&cu=INR&tr=")
    assert dict(parse_qsl(urlsplit(action.url).query)) == {
        "pa": "shop@okaxis",
        "pn": "Chai & Co",
        "am": "100.50",
        "cu": "INR",
        "tr": request.attempt_reference,
        "tn": "Order 42",
    }
    assert action.qr_code.startswith("data:image/png;base64,")


async def test_success_vpa_approves_after_the_configured_delay(
    make: Callable[..., UpiSimulator],
) -> None:
    gate = Gate()
    upi = make(approval_delay=1.5, sleep=gate)
    pending = await upi.authorize(collect("success@upi"))
    await asyncio.sleep(0)
    assert gate.asked == [1.5]
    assert await upi.lookup(pending.attempt_reference) == pending  # still waiting

    gate.opened.set()
    approved = await upi.settled(pending.attempt_reference)
    assert approved is not None
    assert approved.outcome is Out.APPROVED
    assert approved.acquirer_reference == pending.acquirer_reference
    assert approved.authorization_code  # the RRN
    assert approved.next_action is None
    assert await upi.lookup(pending.attempt_reference) == approved


async def test_failure_vpa_fails(make: Callable[..., UpiSimulator]) -> None:
    upi = make()
    pending = await upi.authorize(collect("failure@upi"))
    failed = await upi.settled(pending.attempt_reference)
    assert failed is not None
    assert (failed.outcome, failed.decline_code, failed.acquirer_code) == (
        Out.DECLINED,
        DeclineCode.GENERIC_DECLINE,
        "U30",
    )


async def test_other_vpas_wait_for_the_payer(make: Callable[..., UpiSimulator]) -> None:
    gate = Gate()
    upi = make(collect_expiry=900, sleep=gate)
    approve = await upi.authorize(collect("payer@okhdfc"))
    decline = await upi.authorize(collect("payer@okhdfc"))
    await asyncio.sleep(0)
    assert gate.asked == [900, 900]
    timers = list(upi._timers.values())
    assert (await upi.complete_challenge(approve.attempt_reference, True)).outcome is Out.APPROVED
    declined = await upi.complete_challenge(decline.attempt_reference, False)
    assert declined.decline_code is DeclineCode.DECLINED_BY_PAYER
    await asyncio.wait(timers)
    assert all(timer.cancelled() for timer in timers)  # the payer's answer stopped them


async def test_unanswered_collect_expires(make: Callable[..., UpiSimulator]) -> None:
    upi = make(collect_expiry=0)
    pending = await upi.authorize(collect("payer@okhdfc"))
    expired = await upi.settled(pending.attempt_reference)
    assert expired is not None
    assert expired.decline_code is DeclineCode.COLLECT_EXPIRED


async def test_a_handler_plans_any_ending(make: Callable[..., UpiSimulator]) -> None:
    seen: list[CollectRequest] = []

    def handler(request: CollectRequest) -> CollectPlan:
        seen.append(request)
        return CollectPlan("Z9", after=0)

    upi = make(handler=handler)
    pending = await upi.authorize(collect(" Rich@YBL "))
    result = await upi.settled(pending.attempt_reference)
    assert result is not None and result.decline_code is DeclineCode.INSUFFICIENT_FUNDS
    assert seen[0].payer_vpa == "rich@ybl"


async def test_same_reference_starts_one_collect(make: Callable[..., UpiSimulator]) -> None:
    plans = 0

    def handler(request: CollectRequest) -> CollectPlan:
        nonlocal plans
        plans += 1
        return CollectPlan("00", after=0)

    upi = make(handler=handler)
    request = collect("success@upi")
    first, second = await asyncio.gather(upi.authorize(request), upi.authorize(request))
    assert first == second
    await upi.settled(request.attempt_reference)
    assert plans == 1
    assert (await upi.authorize(request)).outcome is Out.APPROVED


async def test_void_cancels_a_pending_collect(make: Callable[..., UpiSimulator]) -> None:
    gate = Gate()
    upi = make(sleep=gate)
    pending = await upi.authorize(collect("success@upi"))
    await upi.void(VoidRequest(pending.attempt_reference, MERCHANT))
    gate.opened.set()
    settled = await upi.settled(pending.attempt_reference)
    assert settled is not None and settled.outcome is Out.CANCELED


async def test_only_inr_upi_payments(make: Callable[..., UpiSimulator]) -> None:
    upi = make()
    with pytest.raises(AcquirerRejected) as caught:
        await upi.authorize(
            AuthorizationRequest("pa_upi_usd", MERCHANT, Money(100, "USD"), Upi("success@upi"))
        )
    assert caught.value.code is RejectionCode.CURRENCY_NOT_SUPPORTED
    card = Card(Secret("4242424242424242"), 12, 2099, "visa")
    with pytest.raises(AcquirerRejected) as caught:
        await upi.authorize(AuthorizationRequest("pa_upi_card", MERCHANT, Money(100, "INR"), card))
    assert caught.value.code is RejectionCode.UNSUPPORTED_PAYMENT_SOURCE


def test_the_payee_vpa_must_be_valid() -> None:
    with pytest.raises(ValueError, match="payee_vpa"):
        UpiSimulator(payee_vpa="not a vpa")


# --- telling the gateway ---------------------------------------------------------------


async def test_on_complete_is_awaited_once_per_collect(make: Callable[..., UpiSimulator]) -> None:
    heard: list[AuthorizationResult] = []

    async def on_complete(result: AuthorizationResult) -> None:
        heard.append(result)

    upi = make(on_complete=on_complete, collect_expiry=3600)
    by_timer = await upi.authorize(collect("success@upi"))
    by_payer = await upi.authorize(collect("payer@okaxis"))
    await upi.settled(by_timer.attempt_reference)
    await upi.complete_challenge(by_payer.attempt_reference, False)
    await upi.complete_challenge(by_payer.attempt_reference, True)  # final already: no news
    assert [(r.attempt_reference, r.outcome) for r in heard] == [
        (by_timer.attempt_reference, Out.APPROVED),
        (by_payer.attempt_reference, Out.DECLINED),
    ]


async def test_a_failing_callback_is_logged_and_polling_still_tells(
    make: Callable[..., UpiSimulator], caplog: pytest.LogCaptureFixture
) -> None:
    async def on_complete(result: AuthorizationResult) -> None:
        raise RuntimeError("gateway down")

    upi = make(on_complete=on_complete)
    pending = await upi.authorize(collect("success@upi"))
    with caplog.at_level(logging.ERROR, logger="sandbox.acquirer.upi_simulator"):
        await upi.settled(pending.attempt_reference)
    assert "callback failed" in caplog.text
    looked_up = await upi.lookup(pending.attempt_reference)
    assert looked_up is not None and looked_up.outcome is Out.APPROVED


async def test_aclose_stops_pending_timers(make: Callable[..., UpiSimulator]) -> None:
    upi = make(sleep=Gate())
    pending = await upi.authorize(collect("success@upi"))
    await upi.aclose()
    assert upi._timers == {}
    looked_up = await upi.lookup(pending.attempt_reference)
    assert looked_up is not None and looked_up.outcome is Out.REQUIRES_ACTION


async def test_async_with_closes(make: Callable[..., UpiSimulator]) -> None:
    async with UpiSimulator(sleep=Gate()) as upi:
        await upi.authorize(collect("success@upi"))
        assert len(upi._timers) == 1
    assert upi._timers == {}
