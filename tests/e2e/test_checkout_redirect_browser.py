"""The hosted checkout's Wallet and Net banking tabs in headless Chromium, against the
real gateway: the shopper picks the tab by its name, chooses a wallet or a bank, pays,
approves (or declines) on the provider's page in a new tab, and the checkout shows the
outcome by itself; the API then shows the intent with the wallet or bank recorded, and
the day reconciles with 0 differences at the wallet and the bank.

A gateway of its own (API, worker, web, the acquirer and PSP roles, Envoy) on a database
of its own, so the day's reconciliation is of this traffic only. Debian's `chromium`,
driven by playwright-core from npm, runs tests/e2e/browser/redirect_flows.mjs: every flow
in one browser, a fresh context each. Screenshots are kept under
var/artifacts/checkout-redirect/.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.browser_run import fresh_artifacts, run_script
from tests.e2e.conftest import fresh_database, running_gateway
from tests.e2e.gateway import Gateway, reconcile_today

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "tests" / "e2e" / "browser" / "redirect_flows.mjs"
ARTIFACTS = ROOT / "var" / "artifacts" / "checkout-redirect"
# The whole browser run: four flows, each bounded by the script at 90 s.
RUN_TIMEOUT = 420
AMOUNT, AMOUNT_TEXT = 74_900, "₹749.00"

# name -> how the shopper pays (test identities: docs/wallets-and-netbanking.md)
SCENARIOS: dict[str, dict[str, str]] = {
    "wallet_approved": {"method": "wallet", "choice": "paytm", "identity": "9999999999",
                        "decision": "approve", "expect": "success"},
    "netbanking_approved": {"method": "netbanking", "choice": "HDFC", "identity": "success",
                            "decision": "approve", "expect": "success"},
    "wallet_insufficient": {"method": "wallet", "choice": "phonepe", "identity": "9000000001",
                            "decision": "approve", "expect": "failure"},
    "netbanking_cancelled": {"method": "netbanking", "choice": "ICIC", "identity": "success",
                             "decision": "decline", "expect": "failure"},
}  # fmt: skip


@pytest.fixture(scope="module")
async def redirect_database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_admin_url, "paygate_checkout_redirect") as url:
        yield url


@pytest.fixture(scope="module")
def redirect_gateway(redirect_database_url: str) -> Iterator[Gateway]:
    with running_gateway(redirect_database_url) as running:
        assert running.wallet_url and running.netbanking_url, "no PSP role"
        yield running


def api(gateway: Gateway, method: str, path: str, **body: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {gateway.secret_key}"}
    if method == "POST":
        headers["Idempotency-Key"] = f"redirect-browser-{path}-{json.dumps(body, sort_keys=True)}"
    response = httpx.request(
        method, f"{gateway.rest_url}{path}", json=body or None, headers=headers, timeout=30
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


@pytest.fixture(scope="module")
async def browser_run(redirect_gateway: Gateway, request: pytest.FixtureRequest) -> dict[str, Any]:
    """An INR intent per flow (card, wallet and net banking allowed), all run in Chromium."""
    scenarios: dict[str, dict[str, str]] = {}
    for name, scenario in SCENARIOS.items():
        intent = api(
            redirect_gateway,
            "POST",
            "/v1/payment_intents",
            amount=AMOUNT,
            currency="inr",
            payment_method_types=["card", "wallet", "netbanking"],
            description=name,
        )
        scenarios[name] = {
            **scenario,
            "intentId": intent["id"],
            "checkoutUrl": intent["checkout_url"],
            "amountText": AMOUNT_TEXT,
        }
    report = await run_script(
        FLOWS,
        {"scenarios": scenarios},
        fresh_artifacts(ARTIFACTS),
        request,
        what="checkout (wallet, net banking)",
        seconds=RUN_TIMEOUT,
    )
    report["prepared"] = scenarios
    return report


def flow(report: dict[str, Any], name: str) -> dict[str, Any]:
    result: dict[str, Any] = report["scenarios"][name]
    assert result["ok"], f"{name}: {result.get('error')} (at {result.get('url')})"
    return result


def intent_of(gateway: Gateway, report: dict[str, Any], name: str) -> dict[str, Any]:
    return api(gateway, "GET", f"/v1/payment_intents/{report['prepared'][name]['intentId']}")


@pytest.mark.parametrize(
    ("name", "provider_page", "details"),
    [
        ("wallet_approved", "Paytm (test wallet)",
         {"type": "wallet", "wallet": {"provider": "paytm", "name": "Paytm"}}),
        ("netbanking_approved", "HDFC Bank net banking (test bank)",
         {"type": "netbanking", "netbanking": {"bank": "HDFC", "name": "HDFC Bank"}}),
    ],
)  # fmt: skip
def test_approved_on_the_providers_page_the_checkout_shows_success(
    browser_run: dict[str, Any],
    redirect_gateway: Gateway,
    name: str,
    provider_page: str,
    details: dict[str, Any],
) -> None:
    result = flow(browser_run, name)
    assert result["selected"] == "true"  # the tab the shopper chose, by its name
    assert "This page updates by itself" in result["waiting"]
    # The provider's page is the PSP role's, not the checkout's origin.
    provider = redirect_gateway.wallet_url if "wallet" in name else redirect_gateway.netbanking_url
    assert result["providerUrl"].startswith(provider), result
    assert result["providerTitle"] == provider_page
    assert f"{AMOUNT_TEXT} paid to" in result["text"]
    intent = intent_of(redirect_gateway, browser_run, name)
    assert (intent["status"], intent["amount_received"]) == ("SUCCEEDED", str(AMOUNT)), intent
    assert intent["payment_method_details"] == details, intent


@pytest.mark.parametrize(
    ("name", "message", "decline_code", "details"),
    [
        ("wallet_insufficient", "Your wallet balance is too low for this payment.",
         "insufficient_funds", {"type": "wallet", "wallet": {"provider": "phonepe",
                                                            "name": "PhonePe"}}),
        ("netbanking_cancelled", "The payment was declined.", "declined_by_payer",
         {"type": "netbanking", "netbanking": {"bank": "ICIC", "name": "ICICI Bank"}}),
    ],
)  # fmt: skip
def test_a_declined_payment_shows_why_and_offers_the_methods_again(
    browser_run: dict[str, Any],
    redirect_gateway: Gateway,
    name: str,
    message: str,
    decline_code: str,
    details: dict[str, Any],
) -> None:
    result = flow(browser_run, name)
    assert result["message"] == f"{message} Try again or use another payment method."
    assert result["tabsBack"]
    assert "/checkout/" in result["url"]
    intent = intent_of(redirect_gateway, browser_run, name)
    assert intent["status"] == "REQUIRES_PAYMENT_METHOD", intent
    error = intent["last_payment_error"]
    assert (error["code"], error["decline_code"]) == ("PAYMENT_DECLINED", decline_code), intent
    assert intent["payment_method_details"] == details, intent


def test_the_pages_run_without_errors_under_their_csp(browser_run: dict[str, Any]) -> None:
    # A CSP violation or an uncaught exception shows up as a console error. "Failed to
    # load resource" is also logged for the browser's own favicon.ico, which no page
    # asked for: every request the pages made (pages, bundles, API calls) must answer.
    errors = [e for e in browser_run["console"] if "Failed to load resource" not in e["text"]]
    assert errors == []
    assert browser_run["failedResponses"] == []


def test_screenshots_are_saved(browser_run: dict[str, Any]) -> None:
    shots = {p.name for p in ARTIFACTS.glob("*.png")}
    for name in SCENARIOS:
        assert {f"{name}-chosen.png", f"{name}-provider.png"} <= shots, shots
    assert {"wallet_approved-succeeded.png", "wallet_insufficient-failed.png"} <= shots


async def test_zz_the_wallet_and_the_bank_reconcile_with_no_difference(
    browser_run: dict[str, Any], redirect_gateway: Gateway
) -> None:
    """After the flows above: the two captures are lines of the wallet's and the bank's
    settlement reports, and nothing else moved."""
    code, said = await asyncio.to_thread(reconcile_today, redirect_gateway.operator_env())
    summary = said[-1]
    assert (code, summary["msg"], summary["differences"]) == (0, "reconciled", 0), said
    # One approved payment at each, a line of its report; the declined ones moved nothing.
    parts = {
        part["acquirer"]: (part["acquirer_lines"], part["matched"], part["differences"])
        for part in summary["acquirers"]
    }
    assert (parts["wallet"], parts["netbanking"]) == ((1, 1, 0), (1, 1, 0)), summary
