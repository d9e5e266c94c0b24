"""Wallet and net banking payments through the real gateway, as a merchant and a shopper
see them: REST through Envoy, the PSP role's wallet and bank pages over HTTP, the worker's
poller learning the outcome, refunds, and `paygate reconcile` with 0 differences.

The gateway runs on a database of its own (the day's reconciliation is of this gateway's
traffic only), with the PSP role (sandbox/psp: the wallet at /wallet, the net banking
gateway at /netbanking) as a process of its own, as an acquirer at another host would
be. The shopper's approval is the form post their browser would make on the page.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.databases import fresh_database
from tests.e2e.conftest import free_port, running_gateway
from tests.e2e.gateway import Gateway, reconcile_today

ROOT = Path(__file__).resolve().parents[2]
LATE_DELAY = 4.0  # seconds a late-confirming bank or wallet account takes
RETURN_URL = "https://shop.example/order/42"


@pytest.fixture(scope="module")
def psp_url() -> Iterator[str]:
    """The PSP role on a port of its own, its books under a data dir of its own."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="paygate-psp-"))
    env = {
        **os.environ,
        "PAYGATE_DATA_DIR": str(data_dir),
        "PAYGATE_REDIRECT_LATE_DELAY": str(LATE_DELAY),
        "DATABASE_URL": "",
    }
    argv = [sys.executable, "-m", "servers.cli", "serve", "--role", "psp", "--listen",
            f"127.0.0.1:{port}"]  # fmt: skip
    with (data_dir / "psp.log").open("ab") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if (
                    httpx.get(f"{url}/netbanking/v1/payments/pa_ready", timeout=1).status_code
                    == 404
                ):
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("the PSP role never answered")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


@pytest.fixture(scope="module")
async def own_database(postgres_admin_url: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_admin_url, "paygate_wallets") as url:
        yield url


@pytest.fixture(scope="module")
def shop_gateway(own_database: str, psp_url: str) -> Iterator[Gateway]:
    with running_gateway(
        own_database,
        api_processes=1,
        web_process=False,
        wallet_url=f"{psp_url}/wallet",
        netbanking_url=f"{psp_url}/netbanking",
    ) as running:
        yield running


@pytest.fixture
async def rest(shop_gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {shop_gateway.secret_key}"}
    async with httpx.AsyncClient(
        base_url=shop_gateway.rest_url, headers=headers, timeout=30
    ) as http:
        yield http


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def redirected(
    rest: httpx.AsyncClient, method: str, choice: dict[str, str]
) -> dict[str, Any]:
    """An INR intent that allows `method`, confirmed with it: waiting for the shopper."""
    created = await rest.post(
        "/v1/payment_intents",
        json={"amount": 74_900, "currency": "inr", "payment_method_types": ["card", method]},
        headers=key(),
    )
    assert created.status_code == 200, created.text
    confirmed = await rest.post(
        f"/v1/payment_intents/{created.json()['id']}/confirm",
        json={method: choice, "return_url": RETURN_URL},
        headers=key(),
    )
    assert confirmed.status_code == 200, confirmed.text
    intent: dict[str, Any] = confirmed.json()
    assert intent["status"] == "REQUIRES_ACTION", intent
    assert intent["next_action"]["type"] == "REDIRECT_TO_URL", intent
    return intent


async def shopper_answers(page_url: str, fields: dict[str, str]) -> None:
    """What the shopper's browser does on the wallet's or bank's page."""
    async with httpx.AsyncClient(timeout=30) as browser:
        page = await browser.get(page_url)
        assert page.status_code == 200 and "<form" in page.text, page.text
        answered = await browser.post(page_url, data=fields)
    # Back to the merchant's return URL (not followed: it is not on loopback).
    assert answered.status_code == 303 and answered.headers["location"] == RETURN_URL


async def settles(rest: httpx.AsyncClient, intent_id: str) -> dict[str, Any]:
    """The intent once the worker's poller has learned the outcome (and, approved, the
    automatic capture is done)."""
    for _ in range(600):
        intent: dict[str, Any] = (await rest.get(f"/v1/payment_intents/{intent_id}")).json()
        if intent["status"] not in ("REQUIRES_ACTION", "PROCESSING"):
            return intent
        await asyncio.sleep(0.1)
    pytest.fail(f"{intent_id} never settled")


async def refund(rest: httpx.AsyncClient, intent_id: str, amount: int) -> dict[str, Any]:
    response = await rest.post(
        "/v1/refunds", json={"payment_intent": intent_id, "amount": amount}, headers=key()
    )
    assert response.status_code == 200, response.text
    refunded: dict[str, Any] = response.json()
    return refunded


async def succeeded_event(rest: httpx.AsyncClient, intent_id: str) -> dict[str, Any]:
    """The payment_intent.succeeded event of the intent: what its webhooks carry."""
    listed = await rest.get("/v1/events", params={"type": "payment_intent.succeeded", "limit": 100})
    assert listed.status_code == 200, listed.text
    [event] = [e for e in listed.json()["data"] if e["data"]["object"]["id"] == intent_id]
    found: dict[str, Any] = event
    return found


@pytest.mark.parametrize(
    ("method", "choice", "fields", "details"),
    [
        ("wallet", {"provider": "PayTM"}, {"account": "9999999999", "decision": "approve"},
         {"type": "wallet", "wallet": {"provider": "paytm", "name": "Paytm"}}),
        ("netbanking", {"bank": "hdfc"}, {"login": "success", "decision": "approve"},
         {"type": "netbanking", "netbanking": {"bank": "HDFC", "name": "HDFC Bank"}}),
    ],
)  # fmt: skip
async def test_a_payment_approved_on_the_page_succeeds_and_is_refunded(
    rest: httpx.AsyncClient,
    method: str,
    choice: dict[str, str],
    fields: dict[str, str],
    details: dict[str, Any],
) -> None:
    intent = await redirected(rest, method, choice)
    # The wallet or bank is on the intent from the confirm on, in its canonical form.
    assert intent["payment_method_details"] == details, intent
    await shopper_answers(intent["next_action"]["url"], fields)
    paid = await settles(rest, intent["id"])
    assert paid["status"] == "SUCCEEDED" and paid["amount_received"] == "74900", paid
    assert paid["payment_method_details"] == details, paid
    event = await succeeded_event(rest, intent["id"])
    assert event["data"]["object"]["payment_method_details"] == details, event
    refunded = await refund(rest, intent["id"], 20_000)
    assert refunded["status"] == "SUCCEEDED", refunded
    again = await refund(rest, intent["id"], 54_900)
    assert again["status"] == "SUCCEEDED", again


async def test_a_payment_declined_at_the_bank_asks_for_another_method(
    rest: httpx.AsyncClient,
) -> None:
    intent = await redirected(rest, "netbanking", {"bank": "ICIC"})
    await shopper_answers(intent["next_action"]["url"], {"login": "", "decision": "decline"})
    declined = await settles(rest, intent["id"])
    assert declined["status"] == "REQUIRES_PAYMENT_METHOD", declined
    # What was declined stays described, as a failed charge is.
    assert declined["payment_method_details"]["netbanking"]["bank"] == "ICIC", declined
    error = declined["last_payment_error"]
    assert (error["code"], error["decline_code"]) == ("PAYMENT_DECLINED", "declined_by_payer")


async def test_a_late_confirmation_keeps_the_payment_waiting_until_it_comes(
    rest: httpx.AsyncClient,
) -> None:
    intent = await redirected(rest, "wallet", {"provider": "phonepe"})
    await shopper_answers(
        intent["next_action"]["url"], {"account": "9000000002", "decision": "approve"}
    )
    # The wallet says "pending" for LATE_DELAY seconds: the intent keeps waiting, then
    # the poller sees the confirmation.
    paid = await settles(rest, intent["id"])
    assert paid["status"] == "SUCCEEDED", paid
    refunded = await refund(rest, intent["id"], 74_900)
    assert refunded["status"] == "SUCCEEDED", refunded


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"wallet": {"provider": "applepay"}}, "wallet.provider"),
        ({"netbanking": {"bank": "CHAS"}}, "netbanking.bank"),
    ],
)
async def test_an_unknown_wallet_or_bank_is_invalid_argument_naming_the_field(
    rest: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    created = await rest.post(
        "/v1/payment_intents",
        json={"amount": 1000, "currency": "inr", "payment_method_types": ["wallet", "netbanking"]},
        headers=key(),
    )
    response = await rest.post(
        f"/v1/payment_intents/{created.json()['id']}/confirm", json=body, headers=key()
    )
    assert response.status_code == 400, response.text
    violations = [d for d in response.json()["details"] if "field_violations" in d]
    assert [v["field"] for v in violations[0]["field_violations"]] == [field]


async def test_a_wallet_in_dollars_is_refused_when_the_intent_is_created(
    rest: httpx.AsyncClient,
) -> None:
    response = await rest.post(
        "/v1/payment_intents",
        json={"amount": 1000, "currency": "usd", "payment_method_types": ["card", "wallet"]},
        headers=key(),
    )
    assert response.status_code == 400, response.text
    violations = [d for d in response.json()["details"] if "field_violations" in d]
    [violation] = violations[0]["field_violations"]
    assert violation["field"] == "payment_method_types[1]" and "INR" in violation["description"]


async def test_zz_the_day_reconciles_with_no_difference(
    rest: httpx.AsyncClient, shop_gateway: Gateway, psp_url: str
) -> None:
    """After the payments above (pytest runs this module's tests in order)."""
    env = shop_gateway.operator_env(
        PAYGATE_WALLET_URL=f"{psp_url}/wallet", PAYGATE_NETBANKING_URL=f"{psp_url}/netbanking"
    )
    code, said = await asyncio.to_thread(reconcile_today, env)
    summary = said[-1]
    assert (code, summary["msg"], summary["differences"]) == (0, "reconciled", 0), said
    # Three captures and four refunds above, each a line of the wallet's or bank's file.
    assert summary["acquirer_lines"] == summary["ledger_movements"] >= 7, summary
