"""Each JSON PSP connector (Orbit, Kora) against its simulator over HTTP on loopback (the
PSP role's server): the Acquirer port's semantics on each PSP's own JSON (approvals,
declines in paygate's codes, a lost reply recovered by lookup, capture, refund, void, the
settlement file), and an unreachable PSP is "not sent"."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from adapters.acquirers.kora_client import KoraConnector
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
from core.payments.failover import retryable_elsewhere
from core.shared.money import Money
from core.shared.secret import Secret
from sandbox.psp.kora_simulator import KoraBooks
from sandbox.psp.orbit_simulator import OrbitBooks
from tests.e2e.conftest import free_port
from tests.psp_on_loopback import psp_on_loopback

MERCHANT = "acct_orbit"
_refs = itertools.count(1)


def authorization(number: str, amount: int = 4000) -> AuthorizationRequest:
    card = Card(Secret(number), exp_month=12, exp_year=2099, brand="visa", cvc=Secret("123"))
    return AuthorizationRequest(f"pa_orbit_{next(_refs)}", MERCHANT, Money(amount, "EUR"), card)


Connector = OrbitConnector | KoraConnector


@pytest.fixture(params=["orbit", "kora"])
async def psp(request: pytest.FixtureRequest) -> AsyncIterator[Connector]:
    async with psp_on_loopback(OrbitBooks(), KoraBooks()) as (orbit, kora):
        yield orbit if request.param == "orbit" else kora


async def test_approve_capture_refund_and_the_settlement_file(
    psp: Connector,
) -> None:
    connector = psp
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
        ("4000000000000069", AuthorizationOutcome.DECLINED, DeclineCode.EXPIRED_CARD),
        ("4000000000000127", AuthorizationOutcome.DECLINED, DeclineCode.INCORRECT_CVC),
        # No 3-D Secure at either PSP: a soft decline that fails over to the card network.
        ("4000002760003184", AuthorizationOutcome.DECLINED, DeclineCode.AUTHENTICATION_REQUIRED),
    ],
)
async def test_declines_in_paygates_codes(
    psp: Connector,
    number: str,
    outcome: AuthorizationOutcome,
    code: DeclineCode,
) -> None:
    connector = psp
    request = authorization(number)
    declined = await connector.authorize(request)
    assert (declined.outcome, declined.decline_code) == (outcome, code)
    found = await connector.lookup(request.attempt_reference)
    assert found is not None and (found.outcome, found.decline_code) == (outcome, code)


async def test_a_payment_that_must_be_authenticated_is_a_soft_decline(
    psp: Connector,
) -> None:
    connector = psp
    request = dataclasses.replace(authorization("4242424242424242"), require_authentication=True)
    declined = await connector.authorize(request)
    assert declined.outcome is AuthorizationOutcome.DECLINED
    assert declined.decline_code is DeclineCode.AUTHENTICATION_REQUIRED
    assert retryable_elsewhere(declined)  # the route's next acquirer runs 3-D Secure


async def test_a_lost_reply_is_unknown_then_found_and_a_void_releases_it(
    psp: Connector,
) -> None:
    connector = psp
    request = authorization("4000000000000408")
    with pytest.raises(AcquirerTimeout):
        await connector.authorize(request)
    found = await connector.lookup(request.attempt_reference)
    assert found is not None and found.outcome is AuthorizationOutcome.APPROVED
    voided = await connector.void(VoidRequest(request.attempt_reference, MERCHANT))
    assert voided.status is OperationStatus.SUCCEEDED
    assert await connector.lookup("pa_never_sent") is None


@pytest.mark.parametrize("kind", [OrbitConnector, KoraConnector])
async def test_a_psp_that_is_not_there_is_not_sent(kind: type[Connector]) -> None:
    connector = kind(f"http://127.0.0.1:{free_port()}", timeout_seconds=2)
    with pytest.raises(AcquirerUnavailable):
        await connector.authorize(authorization("4242424242424242"))
    await connector.aclose()


def _sale_body(orbit: bool, reference: str, **fields: object) -> dict[str, object]:
    """A sale in the PSP's own words: Orbit's `capture: true`, Kora's charge without
    preauthorization."""
    number = "4242424242424242"
    card = (
        {"source": {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}}
        if orbit
        else {"card": {"number": number, "cvv": "123", "expiry_month": 12, "expiry_year": 2099}}
    )
    return {
        "reference": reference,
        "merchant": MERCHANT,
        "amount": 2500,
        "currency": "eur" if orbit else "EUR",
        **card,
        **({"capture": True} if orbit else {}),
        **fields,
    }


async def test_a_sale_on_each_psps_own_wire(psp: Connector) -> None:
    """Orbit's `capture: true` answers the charge `succeeded` with its `capture`; Kora's
    charge without preauthorization answers its `debit`; each on the charge's lookup too,
    as the capture call with that reference answers it."""
    connector = psp
    orbit = isinstance(connector, OrbitConnector)
    body = _sale_body(orbit, "pa_wire_sale", capture_reference="pa_wire_sale_capture_1")
    path = "/v1/charges" if orbit else "/charge"
    answered = (await connector.send("POST", path, "pa_wire_sale", body)).json()
    charge = answered if orbit else answered["data"]
    capture = charge["capture"] if orbit else charge["debit"]
    assert (capture["reference"], capture["amount"]) == ("pa_wire_sale_capture_1", 2500)
    assert capture["status"] == ("succeeded" if orbit else "success")
    if orbit:
        assert (charge["status"], charge["captured"]) == ("succeeded", True)
    lookup = "/v1/charges/pa_wire_sale" if orbit else "/transaction/verify/pa_wire_sale"
    found = (await connector.send("GET", lookup, "pa_wire_sale")).json()
    found = found if orbit else found["data"]
    assert (found["capture" if orbit else "debit"], found["status"]) == (capture, charge["status"])
    again = await connector.capture(
        CaptureRequest("pa_wire_sale", "pa_wire_sale_capture_1", MERCHANT, Money(2500, "EUR"))
    )
    result = await connector.lookup("pa_wire_sale")
    assert result is not None and result.capture == again
    lines = await connector.settlement_records(datetime.now(UTC).date())
    assert [r.reference for r in lines if r.attempt_reference == "pa_wire_sale"] == [
        "pa_wire_sale_capture_1"
    ]


async def test_a_sale_without_its_capture_reference_is_refused(psp: Connector) -> None:
    connector = psp
    orbit = isinstance(connector, OrbitConnector)
    body = _sale_body(orbit, "pa_wire_no_ref")
    response = await connector.send("POST", "/v1/charges" if orbit else "/charge", "x", body)
    assert response.status_code == 400
    assert "capture_reference" in response.text
    assert await connector.lookup("pa_wire_no_ref") is None


async def test_an_authorization_holds_and_captures_nothing(psp: Connector) -> None:
    connector = psp
    request = authorization("4242424242424242")
    approved = await connector.authorize(request)
    assert approved.outcome is AuthorizationOutcome.APPROVED and approved.capture is None
    assert await connector.settlement_records(datetime.now(UTC).date()) == []
