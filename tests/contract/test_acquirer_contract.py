"""What every Acquirer must do, run against every implementation.

A new connector joins by adding one Harness below: how to build it, which of its payment
sources approve, decline, challenge or time out, and how to wait for an asynchronous
outcome (UPI). Cases that need a capability a connector lacks (no test source that times
out, say) are skipped for it, not weakened.

Each simulator runs twice: in this process, and over gRPC (the acquirer role's
AcquirerSimulatorService on a real server bound to port 0, with GrpcAcquirer as the
client), so the split deployment answers exactly as the embedded one. The JSON PSPs
(Orbit, Kora) run over HTTP: their books hosted by the PSP role's server on a free port,
the PSP's connector as the client, so each PSP's wire says all that the port says.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from paygate.internal.v1 import acquirer_pb2 as pb

from adapters.acquirers.grpc_client import GrpcAcquirer
from adapters.acquirers.kora_client import KoraConnector
from adapters.acquirers.orbit_client import OrbitConnector
from adapters.grpc_channel import open_channel
from core.payments.acquirer import (
    Acquirer,
    AcquirerRejected,
    AcquirerTimeout,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    Card,
    OperationKind,
    OperationStatus,
    PaymentSource,
    RefundRequest,
    RejectionCode,
    Upi,
    VoidRequest,
)
from core.shared.money import Money
from core.shared.secret import Secret
from sandbox.acquirer import CardNetworkSimulator, UpiSimulator
from sandbox.psp.kora_simulator import KoraBooks
from sandbox.psp.orbit_simulator import OrbitBooks
from servers.roles import acquirer as acquirer_server
from tests.psp_on_loopback import psp_on_loopback

MERCHANT = "acct_contract"
AMOUNT = 1000


def card(number: str, brand: str = "visa") -> Card:
    return Card(number=Secret(number), exp_month=12, exp_year=2099, brand=brand, cvc=Secret("123"))


async def _as_is(acquirer: Acquirer, result: AuthorizationResult) -> AuthorizationResult:
    return result


async def _upi_settled(acquirer: Acquirer, result: AuthorizationResult) -> AuthorizationResult:
    assert isinstance(acquirer, UpiSimulator)
    settled = await acquirer.settled(result.attempt_reference)
    assert settled is not None
    return settled


async def _polled_until_final(
    acquirer: Acquirer, result: AuthorizationResult
) -> AuthorizationResult:
    """Over gRPC the gateway cannot wait on the switch's timer: it asks, as its poller does."""
    for _ in range(200):
        found = await acquirer.lookup(result.attempt_reference)
        assert found is not None
        if found.is_final:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"{result.attempt_reference} did not settle")


@dataclass(frozen=True)
class Harness:
    name: str
    build: Callable[[], Acquirer]
    currency: str
    approves: PaymentSource
    declines: PaymentSource
    foreign: PaymentSource  # a kind of source this acquirer does not take
    challenges: PaymentSource | None  # REQUIRES_ACTION until complete_challenge
    times_out: PaymentSource | None  # AcquirerTimeout, with the outcome recorded
    # Waits for an outcome that arrives on its own (a UPI collect); identity elsewhere.
    settle: Callable[[Acquirer, AuthorizationResult], Awaitable[AuthorizationResult]] = _as_is
    # Set: `build` makes the simulator that a real AcquirerSimulatorService hosts as this
    # acquirer, and the subject is a GrpcAcquirer talking to it.
    over_grpc: pb.Acquirer.ValueType | None = None
    # Set: `build` makes a JSON PSP's books, which the PSP role's server hosts, and the
    # subject is the PSP's connector over HTTP.
    over_http: type[OrbitConnector | KoraConnector] | None = None
    # Makes a sale (authorization and capture in one message) when asked; an acquirer that
    # does not ignores the capture reference and answers an authorization.
    sales: bool = False


CARD_NETWORK = Harness(
    name="card_network_simulator",
    build=lambda: CardNetworkSimulator(challenge_base_url="https://pay.example"),
    currency="USD",
    approves=card("4242424242424242"),
    declines=card("4000000000000002"),
    foreign=Upi("success@upi"),
    challenges=card("4000002760003184"),
    times_out=card("4000000000000408"),
    sales=True,
)
UPI_SWITCH = Harness(
    name="upi_simulator",
    build=lambda: UpiSimulator(approval_delay=0, collect_expiry=3600),
    currency="INR",
    approves=Upi("success@upi"),
    declines=Upi("failure@upi"),
    foreign=card("4242424242424242"),
    challenges=Upi("payer@okaxis"),
    times_out=None,
    settle=_upi_settled,
)
# The PSPs' books keep each PSP's raw codes: only over its wire, read by its connector,
# are they the port's, so each PSP runs over HTTP only.
ORBIT = Harness(
    name="orbit_over_http",
    build=OrbitBooks,
    currency="EUR",
    approves=card("4242424242424242"),
    declines=card("4000000000000002"),
    foreign=Upi("success@upi"),
    challenges=None,  # no 3-D Secure at Orbit: a soft decline (test_json_psp_connectors)
    times_out=card("4000000000000408"),
    sales=True,
    over_http=OrbitConnector,
)
KORA = replace(
    ORBIT, name="kora_over_http", build=KoraBooks, currency="GBP", over_http=KoraConnector
)
HARNESSES = [
    CARD_NETWORK,
    UPI_SWITCH,
    ORBIT,
    KORA,
    replace(CARD_NETWORK, name="card_network_over_grpc", over_grpc=pb.ACQUIRER_CARD_NETWORK),
    replace(
        UPI_SWITCH,
        name="upi_switch_over_grpc",
        over_grpc=pb.ACQUIRER_UPI_SWITCH,
        settle=_polled_until_final,
    ),
]

_refs = itertools.count(1)


def ref(prefix: str = "pa") -> str:
    return f"{prefix}_contract_{next(_refs):06d}"


@dataclass
class Subject:
    harness: Harness
    acquirer: Acquirer

    def money(self, amount: int = AMOUNT) -> Money:
        return Money(amount, self.harness.currency)

    def request(
        self,
        source: PaymentSource,
        reference: str | None = None,
        amount: int = AMOUNT,
        *,
        sale: bool = False,
    ) -> AuthorizationRequest:
        attempt_reference = reference or ref()
        return AuthorizationRequest(
            attempt_reference=attempt_reference,
            merchant_id=MERCHANT,
            amount=self.money(amount),
            source=source,
            merchant_name="Contract Shop",
            capture_reference=f"{attempt_reference}_capture_1" if sale else "",
        )

    async def authorized(self, source: PaymentSource | None = None) -> AuthorizationResult:
        result = await self.acquirer.authorize(self.request(source or self.harness.approves))
        return await self.harness.settle(self.acquirer, result)

    def capture(
        self, attempt: str, amount: int, reference: str | None = None, *, final: bool = False
    ) -> CaptureRequest:
        return CaptureRequest(attempt, reference or ref("cap"), MERCHANT, self.money(amount), final)

    def refund(self, attempt: str, amount: int, reference: str | None = None) -> RefundRequest:
        return RefundRequest(attempt, reference or ref("re"), MERCHANT, self.money(amount))


@pytest.fixture(params=HARNESSES, ids=[h.name for h in HARNESSES])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    harness: Harness = request.param
    acquirer = harness.build()
    if harness.over_grpc is not None:
        async with served(harness.over_grpc, acquirer) as client:
            yield Subject(harness, client)
    elif harness.over_http is not None:
        orbit = acquirer if isinstance(acquirer, OrbitBooks) else OrbitBooks()
        kora = acquirer if isinstance(acquirer, KoraBooks) else KoraBooks()
        async with psp_on_loopback(orbit, kora) as (to_orbit, to_kora):
            yield Subject(harness, to_orbit if harness.over_http is OrbitConnector else to_kora)
    else:
        yield Subject(harness, acquirer)
    aclose = getattr(acquirer, "aclose", None)
    if aclose is not None:
        await aclose()


@asynccontextmanager
async def served(which: pb.Acquirer.ValueType, acquirer: Acquirer) -> AsyncIterator[Acquirer]:
    """`acquirer` hosted by a real acquirer-role server on a free port, and a client of it."""
    server, health, port = await acquirer_server.start({which: acquirer}, "127.0.0.1:0")
    channel = open_channel(f"127.0.0.1:{port}")
    try:
        yield GrpcAcquirer(channel, which)
    finally:
        await channel.close()
        await acquirer_server.stop(server, health)


async def rejected(call: Awaitable[object], code: RejectionCode) -> None:
    with pytest.raises(AcquirerRejected) as caught:
        await call
    assert caught.value.code is code


# --- authorization ---------------------------------------------------------------------


async def test_implements_the_port(subject: Subject) -> None:
    assert isinstance(subject.acquirer, Acquirer)


async def test_approval_is_recorded_and_looked_up(subject: Subject) -> None:
    result = await subject.authorized()
    assert result.outcome is AuthorizationOutcome.APPROVED
    assert result.amount == subject.money()
    assert result.acquirer_reference
    assert result.decline_code is None
    assert result.next_action is None
    assert result.is_final and not result.retryable
    assert await subject.acquirer.lookup(result.attempt_reference) == result


async def test_same_reference_authorizes_once(subject: Subject) -> None:
    first = await subject.authorized()
    again = await subject.acquirer.authorize(
        subject.request(subject.harness.approves, first.attempt_reference)
    )
    assert again == first
    # One authorization of AMOUNT, not two: the whole of it captures, one unit more does not.
    await subject.acquirer.capture(subject.capture(first.attempt_reference, AMOUNT))
    await rejected(
        subject.acquirer.capture(subject.capture(first.attempt_reference, 1)),
        RejectionCode.AMOUNT_EXCEEDS_AUTHORIZED,
    )


async def test_concurrent_duplicates_authorize_once(subject: Subject) -> None:
    request = subject.request(subject.harness.approves)
    one, two = await asyncio.gather(
        subject.acquirer.authorize(request), subject.acquirer.authorize(request)
    )
    assert one.acquirer_reference == two.acquirer_reference


async def test_reference_reused_with_other_parameters_is_rejected(subject: Subject) -> None:
    first = await subject.authorized()
    await rejected(
        subject.acquirer.authorize(
            subject.request(subject.harness.approves, first.attempt_reference, amount=AMOUNT + 1)
        ),
        RejectionCode.REFERENCE_REUSED,
    )


async def test_decline_is_final_with_a_decline_code(subject: Subject) -> None:
    result = await subject.authorized(subject.harness.declines)
    assert result.outcome is AuthorizationOutcome.DECLINED
    assert result.decline_code is not None
    assert result.is_final and not result.retryable
    assert await subject.acquirer.lookup(result.attempt_reference) == result
    await rejected(
        subject.acquirer.capture(subject.capture(result.attempt_reference, AMOUNT)),
        RejectionCode.NOT_AUTHORIZED,
    )


async def test_foreign_payment_source_is_rejected(subject: Subject) -> None:
    await rejected(
        subject.acquirer.authorize(subject.request(subject.harness.foreign)),
        RejectionCode.UNSUPPORTED_PAYMENT_SOURCE,
    )


async def test_unknown_reference(subject: Subject) -> None:
    assert await subject.acquirer.lookup("pa_never_sent") is None
    await rejected(
        subject.acquirer.capture(subject.capture("pa_never_sent", 1)),
        RejectionCode.UNKNOWN_REFERENCE,
    )
    await rejected(
        subject.acquirer.complete_challenge("pa_never_sent", True), RejectionCode.UNKNOWN_REFERENCE
    )


async def test_another_merchant_cannot_touch_the_attempt(subject: Subject) -> None:
    result = await subject.authorized()
    await rejected(
        subject.acquirer.capture(
            CaptureRequest(result.attempt_reference, ref("cap"), "acct_other", subject.money())
        ),
        RejectionCode.UNKNOWN_REFERENCE,
    )


# --- timeouts and challenges -----------------------------------------------------------


async def test_timeout_is_unknown_until_asked_again(subject: Subject) -> None:
    if subject.harness.times_out is None:
        pytest.skip("no test source times out on this acquirer")
    request = subject.request(subject.harness.times_out)
    with pytest.raises(AcquirerTimeout):
        await subject.acquirer.authorize(request)
    found = await subject.acquirer.lookup(request.attempt_reference)
    assert found is not None and found.is_final
    assert await subject.acquirer.authorize(request) == found


async def test_challenge_passed_approves(subject: Subject) -> None:
    if subject.harness.challenges is None:
        pytest.skip("no challenge flow on this acquirer")
    pending = await subject.acquirer.authorize(subject.request(subject.harness.challenges))
    assert pending.outcome is AuthorizationOutcome.REQUIRES_ACTION
    assert not pending.is_final
    assert pending.next_action is not None and pending.next_action.url
    assert await subject.acquirer.lookup(pending.attempt_reference) == pending

    approved = await subject.acquirer.complete_challenge(pending.attempt_reference, True)
    assert approved.outcome is AuthorizationOutcome.APPROVED
    assert approved.next_action is None
    assert await subject.acquirer.lookup(pending.attempt_reference) == approved
    # Final now: a second answer changes nothing.
    assert await subject.acquirer.complete_challenge(pending.attempt_reference, False) == approved
    capture = await subject.acquirer.capture(subject.capture(pending.attempt_reference, AMOUNT))
    assert capture.status is OperationStatus.SUCCEEDED


async def test_challenge_failed_declines(subject: Subject) -> None:
    if subject.harness.challenges is None:
        pytest.skip("no challenge flow on this acquirer")
    pending = await subject.acquirer.authorize(subject.request(subject.harness.challenges))
    declined = await subject.acquirer.complete_challenge(pending.attempt_reference, False)
    assert declined.outcome is AuthorizationOutcome.DECLINED
    assert declined.decline_code is not None
    assert await subject.acquirer.complete_challenge(pending.attempt_reference, True) == declined


async def test_void_cancels_a_pending_action_for_good(subject: Subject) -> None:
    if subject.harness.challenges is None:
        pytest.skip("no challenge flow on this acquirer")
    pending = await subject.acquirer.authorize(subject.request(subject.harness.challenges))
    void = await subject.acquirer.void(VoidRequest(pending.attempt_reference, MERCHANT))
    assert void.status is OperationStatus.SUCCEEDED
    canceled = await subject.acquirer.complete_challenge(pending.attempt_reference, True)
    assert canceled.outcome is AuthorizationOutcome.CANCELED
    assert await subject.acquirer.lookup(pending.attempt_reference) == canceled


async def test_complete_challenge_without_one_returns_the_final_result(subject: Subject) -> None:
    approved = await subject.authorized()
    assert await subject.acquirer.complete_challenge(approved.attempt_reference, False) == approved


# --- a sale: authorization and capture in one message ----------------------------------


def needs_sales(subject: Subject) -> None:
    if not subject.harness.sales:
        pytest.skip("this acquirer makes no sales: it answers an authorization")


async def settled_today(subject: Subject, attempt_reference: str) -> list[str]:
    settlement_records = getattr(subject.acquirer, "settlement_records")  # noqa: B009
    day = datetime.now(UTC).date()
    records = await settlement_records(day)
    return [r.reference for r in records if r.attempt_reference == attempt_reference]


async def test_a_sale_is_approved_and_captured_in_one_message(subject: Subject) -> None:
    needs_sales(subject)
    request = subject.request(subject.harness.approves, sale=True)
    result = await subject.acquirer.authorize(request)
    assert result.outcome is AuthorizationOutcome.APPROVED
    capture = result.capture
    assert capture is not None
    assert capture.kind is OperationKind.CAPTURE
    assert capture.status is OperationStatus.SUCCEEDED
    assert (capture.attempt_reference, capture.reference) == (
        request.attempt_reference,
        request.capture_reference,
    )
    assert capture.amount == subject.money() and capture.acquirer_reference
    # Asked again, by lookup or the same sale: the same answer, captured once.
    assert await subject.acquirer.lookup(request.attempt_reference) == result
    assert await subject.acquirer.authorize(request) == result
    assert await settled_today(subject, request.attempt_reference) == [request.capture_reference]
    # The capture is in the books like any other: the same reference answers it again,
    # another one finds it captured, and it can be refunded.
    again = subject.capture(request.attempt_reference, AMOUNT, request.capture_reference)
    assert await subject.acquirer.capture(replace(again, final=True)) == capture
    await rejected(
        subject.acquirer.capture(subject.capture(request.attempt_reference, 1, final=True)),
        RejectionCode.ALREADY_CAPTURED,
    )
    await rejected(
        subject.acquirer.void(VoidRequest(request.attempt_reference, MERCHANT)),
        RejectionCode.ALREADY_CAPTURED,
    )
    refund = await subject.acquirer.refund(subject.refund(request.attempt_reference, AMOUNT))
    assert refund.status is OperationStatus.SUCCEEDED


async def test_a_declined_sale_captures_nothing(subject: Subject) -> None:
    needs_sales(subject)
    request = subject.request(subject.harness.declines, sale=True)
    result = await subject.acquirer.authorize(request)
    assert result.outcome is AuthorizationOutcome.DECLINED and result.capture is None
    assert await settled_today(subject, request.attempt_reference) == []
    await rejected(
        subject.acquirer.capture(
            subject.capture(request.attempt_reference, AMOUNT, request.capture_reference)
        ),
        RejectionCode.NOT_AUTHORIZED,
    )


async def test_a_sale_whose_reply_is_lost_is_found_captured(subject: Subject) -> None:
    needs_sales(subject)
    if subject.harness.times_out is None:
        pytest.skip("no test source times out on this acquirer")
    request = subject.request(subject.harness.times_out, sale=True)
    with pytest.raises(AcquirerTimeout):
        await subject.acquirer.authorize(request)
    found = await subject.acquirer.lookup(request.attempt_reference)
    assert found is not None and found.outcome is AuthorizationOutcome.APPROVED
    assert found.capture is not None
    assert found.capture.status is OperationStatus.SUCCEEDED
    assert found.capture.reference == request.capture_reference
    assert await settled_today(subject, request.attempt_reference) == [request.capture_reference]


async def test_a_challenged_sale_is_an_authorization(subject: Subject) -> None:
    """Not approved in its own message: the capture lapses, the caller captures."""
    needs_sales(subject)
    if subject.harness.challenges is None:
        pytest.skip("no challenge flow on this acquirer")
    request = subject.request(subject.harness.challenges, sale=True)
    pending = await subject.acquirer.authorize(request)
    assert pending.outcome is AuthorizationOutcome.REQUIRES_ACTION and pending.capture is None
    approved = await subject.acquirer.complete_challenge(request.attempt_reference, True)
    assert approved.outcome is AuthorizationOutcome.APPROVED and approved.capture is None
    assert await settled_today(subject, request.attempt_reference) == []
    capture = await subject.acquirer.capture(
        subject.capture(request.attempt_reference, AMOUNT, request.capture_reference, final=True)
    )
    assert capture.status is OperationStatus.SUCCEEDED


async def test_an_acquirer_without_sales_answers_an_authorization(subject: Subject) -> None:
    if subject.harness.sales:
        pytest.skip("this acquirer makes sales")
    request = subject.request(subject.harness.approves, sale=True)
    result = await subject.harness.settle(
        subject.acquirer, await subject.acquirer.authorize(request)
    )
    assert result.outcome is AuthorizationOutcome.APPROVED and result.capture is None
    assert await settled_today(subject, request.attempt_reference) == []


# --- capture, refund, void -------------------------------------------------------------


async def test_partial_captures_up_to_the_authorized_amount(subject: Subject) -> None:
    attempt = (await subject.authorized()).attempt_reference
    first = await subject.acquirer.capture(subject.capture(attempt, 600))
    assert first.kind is OperationKind.CAPTURE
    assert first.status is OperationStatus.SUCCEEDED
    assert first.amount == subject.money(600)
    await rejected(
        subject.acquirer.capture(subject.capture(attempt, 401)),
        RejectionCode.AMOUNT_EXCEEDS_AUTHORIZED,
    )
    rest = await subject.acquirer.capture(subject.capture(attempt, 400))
    assert rest.status is OperationStatus.SUCCEEDED
    await rejected(
        subject.acquirer.capture(subject.capture(attempt, 1)),
        RejectionCode.AMOUNT_EXCEEDS_AUTHORIZED,
    )


async def test_capture_is_idempotent_by_its_reference(subject: Subject) -> None:
    attempt = (await subject.authorized()).attempt_reference
    request = subject.capture(attempt, 700)
    first = await subject.acquirer.capture(request)
    assert await subject.acquirer.capture(request) == first
    await rejected(
        subject.acquirer.capture(subject.capture(attempt, 600, request.capture_reference)),
        RejectionCode.REFERENCE_REUSED,
    )
    # Captured once: 300 remain.
    await subject.acquirer.capture(subject.capture(attempt, 300))


async def test_final_capture_releases_the_rest(subject: Subject) -> None:
    attempt = (await subject.authorized()).attempt_reference
    await subject.acquirer.capture(subject.capture(attempt, 300, final=True))
    await rejected(
        subject.acquirer.capture(subject.capture(attempt, 100)), RejectionCode.ALREADY_CAPTURED
    )


async def test_capture_amount_must_be_positive_and_in_the_attempts_currency(
    subject: Subject,
) -> None:
    attempt = (await subject.authorized()).attempt_reference
    await rejected(
        subject.acquirer.capture(subject.capture(attempt, 0)), RejectionCode.INVALID_AMOUNT
    )
    other = "EUR" if subject.harness.currency != "EUR" else "USD"
    await rejected(
        subject.acquirer.capture(CaptureRequest(attempt, ref("cap"), MERCHANT, Money(10, other))),
        RejectionCode.CURRENCY_MISMATCH,
    )


async def test_refunds_up_to_the_captured_amount(subject: Subject) -> None:
    attempt = (await subject.authorized()).attempt_reference
    await rejected(
        subject.acquirer.refund(subject.refund(attempt, 1)), RejectionCode.AMOUNT_EXCEEDS_CAPTURED
    )
    await subject.acquirer.capture(subject.capture(attempt, 800, final=True))
    request = subject.refund(attempt, 500)
    first = await subject.acquirer.refund(request)
    assert first.kind is OperationKind.REFUND
    assert first.status is OperationStatus.SUCCEEDED
    assert await subject.acquirer.refund(request) == first  # idempotent by reference
    await rejected(
        subject.acquirer.refund(subject.refund(attempt, 301)),
        RejectionCode.AMOUNT_EXCEEDS_CAPTURED,
    )
    await subject.acquirer.refund(subject.refund(attempt, 300))
    await rejected(
        subject.acquirer.refund(subject.refund(attempt, 1)), RejectionCode.AMOUNT_EXCEEDS_CAPTURED
    )


async def test_void_releases_an_uncaptured_authorization(subject: Subject) -> None:
    attempt = (await subject.authorized()).attempt_reference
    void = await subject.acquirer.void(VoidRequest(attempt, MERCHANT))
    assert void.kind is OperationKind.VOID
    assert void.status is OperationStatus.SUCCEEDED
    assert void.amount == subject.money()
    assert await subject.acquirer.void(VoidRequest(attempt, MERCHANT)) == void
    await rejected(
        subject.acquirer.capture(subject.capture(attempt, 1)), RejectionCode.ALREADY_VOIDED
    )


async def test_void_after_a_partial_capture_releases_the_rest(subject: Subject) -> None:
    attempt = (await subject.authorized()).attempt_reference
    await subject.acquirer.capture(subject.capture(attempt, 250))
    void = await subject.acquirer.void(VoidRequest(attempt, MERCHANT))
    assert void.amount == subject.money(AMOUNT - 250)
    await rejected(
        subject.acquirer.capture(subject.capture(attempt, 1)), RejectionCode.ALREADY_VOIDED
    )


async def test_captured_attempt_cannot_be_voided(subject: Subject) -> None:
    attempt = (await subject.authorized()).attempt_reference
    await subject.acquirer.capture(subject.capture(attempt, AMOUNT))
    await rejected(
        subject.acquirer.void(VoidRequest(attempt, MERCHANT)), RejectionCode.ALREADY_CAPTURED
    )


async def test_declined_attempt_cannot_be_voided(subject: Subject) -> None:
    attempt = (await subject.authorized(subject.harness.declines)).attempt_reference
    await rejected(
        subject.acquirer.void(VoidRequest(attempt, MERCHANT)), RejectionCode.NOT_AUTHORIZED
    )
