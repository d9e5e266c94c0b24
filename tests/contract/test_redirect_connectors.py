"""The wallet and net banking connectors against their simulators over HTTP on loopback
(the PSP role's server): the Acquirer port's semantics on each one's own wire. The payer
answers on the simulator's page (an HTTP form post here); approvals, the decline button,
the test identities, a late confirmation, an expiry, a void while waiting, capture,
refund, the settlement file, books that survive a restart, and an unreachable gateway
that is "not sent"."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from adapters.acquirers.netbanking_client import NetBankingConnector
from adapters.acquirers.wallet_client import WalletConnector
from core.payments.acquirer import (
    AcquirerRejected,
    AcquirerUnavailable,
    AuthorizationOutcome,
    AuthorizationRequest,
    CaptureRequest,
    DeclineCode,
    NetBanking,
    NextActionType,
    OperationStatus,
    PaymentSource,
    RefundRequest,
    RejectionCode,
    VoidRequest,
    Wallet,
)
from core.shared.money import Money
from sandbox.psp.kora_simulator import KoraBooks
from sandbox.psp.netbanking_simulator import netbanking_books
from sandbox.psp.orbit_simulator import OrbitBooks
from sandbox.psp.server import NETBANKING_PREFIX, WALLET_PREFIX, psp_app, serve
from sandbox.psp.wallet_simulator import wallet_books
from tests.e2e.conftest import free_port
from tests.fakes import FixedClock

Out = AuthorizationOutcome
MERCHANT = "acct_redirect"
RETURN_URL = "https://shop.example/return"
EXPIRY, LATE = 600.0, 20.0
_refs = itertools.count(1)


@dataclass(frozen=True)
class Method:
    name: str
    source: PaymentSource
    login_field: str  # the page's identity field
    approves: str
    insufficient: str
    late: str


METHODS = {
    "wallet": Method(
        "wallet", Wallet("paytm"), "account", "9999999999", "9000000001", "9000000002"
    ),
    "netbanking": Method(
        "netbanking", NetBanking("HDFC"), "login", "success", "insufficient", "late"
    ),
}

Connector = WalletConnector | NetBankingConnector


@dataclass
class Gateway:
    connector: Connector
    method: Method
    clock: FixedClock
    data_dir: Path
    port: int

    def request(self, amount: int = 50_000, currency: str = "INR") -> AuthorizationRequest:
        return AuthorizationRequest(
            f"pa_{self.method.name}_{next(_refs)}",
            MERCHANT,
            Money(amount, currency),
            self.method.source,
            return_url=RETURN_URL,
        )

    async def answer(self, url: str, identity: str, decision: str = "approve") -> httpx.Response:
        async with httpx.AsyncClient(timeout=5) as browser:
            page = await browser.get(url)
            assert page.status_code == 200 and "<form" in page.text
            return await browser.post(
                url, data={self.method.login_field: identity, "decision": decision}
            )

    async def answer_again(self, url: str, identity: str, decision: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=5) as browser:
            page = await browser.get(url)
            assert page.status_code == 200 and "<form" not in page.text
            return await browser.post(
                url, data={self.method.login_field: identity, "decision": decision}
            )


async def _serve(
    data_dir: Path, clock: FixedClock, port: int
) -> tuple[asyncio.Task[None], asyncio.Event]:
    app = psp_app(
        OrbitBooks(),
        KoraBooks(),
        wallet_books(data_dir, expiry=EXPIRY, late_delay=LATE, clock=clock),
        netbanking_books(data_dir, expiry=EXPIRY, late_delay=LATE, clock=clock),
    )
    stop = asyncio.Event()
    return asyncio.create_task(serve(app, "127.0.0.1", port, stop=stop)), stop


async def _listening(connector: Connector) -> None:
    for _ in range(100):
        try:
            await connector.lookup("pa_none")
            return
        except AcquirerUnavailable:
            await asyncio.sleep(0.02)


@pytest.fixture(params=sorted(METHODS))
async def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Gateway]:
    method, clock, port = METHODS[request.param], FixedClock(), free_port()
    server, stop = await _serve(tmp_path, clock, port)
    prefix = WALLET_PREFIX if method.name == "wallet" else NETBANKING_PREFIX
    url = f"http://127.0.0.1:{port}{prefix}"
    connector: Connector = (
        WalletConnector(url, timeout_seconds=5)
        if method.name == "wallet"
        else NetBankingConnector(url, timeout_seconds=5)
    )
    await _listening(connector)
    yield Gateway(connector, method, clock, tmp_path, port)
    await connector.aclose()
    stop.set()
    await server


async def test_approved_on_the_page_captured_refunded_and_settled(gateway: Gateway) -> None:
    connector, request = gateway.connector, gateway.request()
    waiting = await connector.authorize(request)
    assert waiting.outcome is Out.REQUIRES_ACTION and waiting.next_action is not None
    assert waiting.next_action.type == NextActionType.REDIRECT_TO_URL
    assert (await connector.authorize(request)).outcome is Out.REQUIRES_ACTION  # acts once

    answered = await gateway.answer(waiting.next_action.url, gateway.method.approves)
    assert answered.status_code == 303 and answered.headers["location"] == RETURN_URL
    approved = await connector.lookup(request.attempt_reference)
    assert approved is not None and approved.outcome is Out.APPROVED
    assert approved.authorization_code and approved.decline_code is None
    # Answering again changes nothing.
    await gateway.answer_again(waiting.next_action.url, gateway.method.insufficient, "decline")
    found = await connector.lookup(request.attempt_reference)
    assert found is not None and found.outcome is Out.APPROVED

    amount = Money(50_000, "INR")
    capture = CaptureRequest(request.attempt_reference, "cap_1", MERCHANT, amount)
    assert (await connector.capture(capture)).status is OperationStatus.SUCCEEDED
    refund = RefundRequest(request.attempt_reference, "re_1", MERCHANT, Money(12_345, "INR"))
    assert (await connector.refund(refund)).status is OperationStatus.SUCCEEDED
    with pytest.raises(AcquirerRejected) as too_much:
        await connector.refund(
            RefundRequest(request.attempt_reference, "re_2", MERCHANT, Money(37_656, "INR"))
        )
    assert too_much.value.code is RejectionCode.AMOUNT_EXCEEDS_CAPTURED
    lines = await connector.settlement_records(gateway.clock.now().date())
    assert [(r.kind.value, r.reference, r.amount.amount) for r in lines] == [
        ("CAPTURE", "cap_1", 50_000),
        ("REFUND", "re_1", 12_345),
    ]
    assert {r.attempt_reference for r in lines} == {request.attempt_reference}


async def test_the_payer_declines_or_has_no_funds(gateway: Gateway) -> None:
    connector = gateway.connector
    for identity, decision, code in (
        ("", "decline", DeclineCode.DECLINED_BY_PAYER),
        (gateway.method.insufficient, "approve", DeclineCode.INSUFFICIENT_FUNDS),
    ):
        request = gateway.request()
        waiting = await connector.authorize(request)
        assert waiting.next_action is not None
        await gateway.answer(waiting.next_action.url, identity, decision)
        declined = await connector.lookup(request.attempt_reference)
        assert declined is not None and (declined.outcome, declined.decline_code) == (
            Out.DECLINED,
            code,
        )
        capture = CaptureRequest(request.attempt_reference, "cap", MERCHANT, waiting.amount)
        with pytest.raises(AcquirerRejected):
            await connector.capture(capture)


async def test_a_late_confirmation_is_pending_until_it_comes(gateway: Gateway) -> None:
    connector, request = gateway.connector, gateway.request()
    waiting = await connector.authorize(request)
    assert waiting.next_action is not None
    await gateway.answer(waiting.next_action.url, gateway.method.late)
    pending = await connector.lookup(request.attempt_reference)
    assert pending is not None and pending.outcome is Out.PENDING
    gateway.clock.advance(seconds=EXPIRY + 1)  # a late confirmation does not expire
    confirmed = await connector.lookup(request.attempt_reference)
    assert confirmed is not None and confirmed.outcome is Out.APPROVED


async def test_an_unanswered_payment_expires_and_a_void_cancels_a_waiting_one(
    gateway: Gateway,
) -> None:
    connector = gateway.connector
    left, voided = gateway.request(), gateway.request()
    await connector.authorize(left)
    await connector.authorize(voided)
    void = await connector.void(VoidRequest(voided.attempt_reference, MERCHANT))
    assert void.status is OperationStatus.SUCCEEDED
    canceled = await connector.lookup(voided.attempt_reference)
    assert canceled is not None and canceled.outcome is Out.CANCELED
    gateway.clock.advance(seconds=EXPIRY)
    expired = await connector.lookup(left.attempt_reference)
    assert expired is not None
    assert (expired.outcome, expired.decline_code) == (Out.DECLINED, DeclineCode.APPROVAL_EXPIRED)


async def test_refused_requests_and_unknown_references(gateway: Gateway) -> None:
    connector = gateway.connector
    with pytest.raises(AcquirerRejected) as dollars:
        await connector.authorize(gateway.request(currency="USD"))
    assert dollars.value.code is RejectionCode.CURRENCY_NOT_SUPPORTED
    assert await connector.lookup("pa_never_sent") is None


async def test_the_books_survive_a_restart(gateway: Gateway) -> None:
    connector, request = gateway.connector, gateway.request()
    waiting = await connector.authorize(request)
    assert waiting.next_action is not None
    await gateway.answer(waiting.next_action.url, gateway.method.approves)
    await connector.capture(
        CaptureRequest(request.attempt_reference, "c", MERCHANT, waiting.amount)
    )
    # A second server on the same books (as after a restart of the PSP role).
    port = free_port()
    server, stop = await _serve(gateway.data_dir, gateway.clock, port)
    base = str(connector._http._http.base_url).replace(str(gateway.port), str(port))
    again: Connector = type(connector)(base, timeout_seconds=5)
    try:
        await _listening(again)
        found = await again.lookup(request.attempt_reference)
        assert found is not None and found.outcome is Out.APPROVED
        lines = await again.settlement_records(gateway.clock.now().date())
        assert [r.reference for r in lines] == ["c"]
    finally:
        await again.aclose()
        stop.set()
        await server


async def test_an_unreachable_gateway_is_not_sent(gateway: Gateway) -> None:
    method = gateway.method
    closed = f"http://127.0.0.1:{free_port()}"
    connector: Connector = (
        WalletConnector(closed, timeout_seconds=2)
        if method.name == "wallet"
        else NetBankingConnector(closed, timeout_seconds=2)
    )
    try:
        with pytest.raises(AcquirerUnavailable):
            await connector.authorize(gateway.request())
    finally:
        await connector.aclose()
