"""The Orbit connector against the Orbit simulator over HTTP on loopback: the Acquirer
port's semantics on Orbit's JSON (approvals, declines, a lost reply recovered by lookup,
capture, refund, void, the settlement file), and an unreachable Orbit is "not sent"."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from adapters.acquirers.orbit_client import OrbitConnector
from core.payments.acquirer import (
    AcquirerRejected,
    AcquirerTimeout,
    AcquirerUnavailable,
    AuthorizationOutcome,
    AuthorizationRequest,
    CaptureRequest,
    Card,
    DeclineCode,
    OperationStatus,
    RefundRequest,
    RejectionCode,
    VoidRequest,
)
from core.shared.money import Money
from core.shared.secret import Secret
from sandbox.psp.orbit_simulator import OrbitBooks, serve
from tests.e2e.conftest import free_port

MERCHANT = "acct_orbit"
_refs = itertools.count(1)


def authorization(number: str, amount: int = 4000) -> AuthorizationRequest:
    card = Card(Secret(number), exp_month=12, exp_year=2099, brand="visa", cvc=Secret("123"))
    return AuthorizationRequest(f"pa_orbit_{next(_refs)}", MERCHANT, Money(amount, "EUR"), card)


@pytest.fixture
async def orbit() -> AsyncIterator[tuple[OrbitConnector, OrbitBooks]]:
    books, stop, port = OrbitBooks(), asyncio.Event(), free_port()
    server = asyncio.create_task(serve(books, "127.0.0.1", port, stop=stop))
    connector = OrbitConnector(f"http://127.0.0.1:{port}", timeout_seconds=5)
    for _ in range(100):  # until it listens
        try:
            await connector.lookup("pa_none")
            break
        except AcquirerUnavailable:
            await asyncio.sleep(0.02)
    yield connector, books
    await connector.aclose()
    stop.set()
    await server


async def test_approve_capture_refund_and_the_settlement_file(
    orbit: tuple[OrbitConnector, OrbitBooks],
) -> None:
    connector, _ = orbit
    request = authorization("4242424242424242")
    approved = await connector.authorize(request)
    assert approved.outcome is AuthorizationOutcome.APPROVED and approved.authorization_code
    assert await connector.authorize(request) == approved  # a repeat acts once
    capture = CaptureRequest(request.attempt_reference, "cap_1", MERCHANT, Money(4000, "EUR"))
    assert (await connector.capture(capture)).status is OperationStatus.SUCCEEDED
    refund = RefundRequest(request.attempt_reference, "re_1", MERCHANT, Money(1000, "EUR"))
    assert (await connector.refund(refund)).status is OperationStatus.SUCCEEDED
    with pytest.raises(AcquirerRejected) as too_much:
        await connector.refund(
            RefundRequest(request.attempt_reference, "re_2", MERCHANT, Money(3001, "EUR"))
        )
    assert too_much.value.code is RejectionCode.AMOUNT_EXCEEDS_CAPTURED
    lines = await connector.settlement_records(datetime.now(UTC).date())
    assert [(r.kind.value, r.reference, r.amount.amount) for r in lines] == [
        ("CAPTURE", "cap_1", 4000),
        ("REFUND", "re_1", 1000),
    ]


@pytest.mark.parametrize(
    ("number", "outcome", "code"),
    [
        ("4000000000009995", AuthorizationOutcome.DECLINED, DeclineCode.INSUFFICIENT_FUNDS),
        ("4000000000000002", AuthorizationOutcome.DECLINED, DeclineCode.GENERIC_DECLINE),
        ("4000000000000119", AuthorizationOutcome.PROCESSING_ERROR, DeclineCode.PROCESSING_ERROR),
        ("4100000000000019", AuthorizationOutcome.RISK_BLOCKED, DeclineCode.FRAUDULENT),
    ],
)
async def test_declines_in_paygates_codes(
    orbit: tuple[OrbitConnector, OrbitBooks],
    number: str,
    outcome: AuthorizationOutcome,
    code: DeclineCode,
) -> None:
    connector, _ = orbit
    request = authorization(number)
    declined = await connector.authorize(request)
    assert (declined.outcome, declined.decline_code) == (outcome, code)
    found = await connector.lookup(request.attempt_reference)
    assert found is not None and (found.outcome, found.decline_code) == (outcome, code)


async def test_a_lost_reply_is_unknown_then_found_and_a_void_releases_it(
    orbit: tuple[OrbitConnector, OrbitBooks],
) -> None:
    connector, _ = orbit
    request = authorization("4000000000000408")
    with pytest.raises(AcquirerTimeout):
        await connector.authorize(request)
    found = await connector.lookup(request.attempt_reference)
    assert found is not None and found.outcome is AuthorizationOutcome.APPROVED
    voided = await connector.void(VoidRequest(request.attempt_reference, MERCHANT))
    assert voided.status is OperationStatus.SUCCEEDED
    assert await connector.lookup("pa_never_sent") is None


async def test_an_orbit_that_is_not_there_is_not_sent() -> None:
    connector = OrbitConnector(f"http://127.0.0.1:{free_port()}", timeout_seconds=2)
    with pytest.raises(AcquirerUnavailable):
        await connector.authorize(authorization("4242424242424242"))
    await connector.aclose()
