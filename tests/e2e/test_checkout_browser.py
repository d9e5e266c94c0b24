"""The hosted checkout and checkout.js in headless Chromium, against the real gateway.

A gateway of its own (API processes, worker, web process, acquirer role, Envoy and the
demo merchant's shop) serves the pages; Debian's `chromium` (installed by `make test`),
driven by playwright-core from npm, pays through them like a shopper:
tests/e2e/browser/checkout_flows.mjs runs every flow in one browser, one fresh context
each, and reports; the tests here prepare the intents, then check each report and what
the server says about the intent. Screenshots are kept under var/artifacts/checkout/.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from adapters.sql.engine import create_engine
from servers.bootstrap.app import build_app
from servers.runtime.settings import Settings
from tests.e2e.conftest import fresh_database, running_gateway
from tests.e2e.gateway import Gateway

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "tests" / "e2e" / "browser" / "checkout_flows.mjs"
ARTIFACTS = ROOT / "var" / "artifacts" / "checkout"
# The whole browser run: ten flows, each bounded by the script at 60 s.
RUN_TIMEOUT = 420


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is missing: `make test` installs it (apt-get install chromium)")
    return found


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Shop:
    """The merchant's server side: creates intents with the secret key."""

    def __init__(self, gateway: Gateway, demo_url: str) -> None:
        self.gateway = gateway
        self.demo_url = demo_url

    def _call(self, method: str, path: str, key: str = "", **body: Any) -> dict[str, Any]:
        headers = bearer(self.gateway.secret_key)
        if key:
            headers["Idempotency-Key"] = key
        response = httpx.request(
            method, f"{self.gateway.rest_url}{path}", json=body or None, headers=headers
        )
        assert response.status_code == 200, response.text
        intent: dict[str, Any] = response.json()
        return intent

    def intent(self, name: str, **fields: Any) -> dict[str, Any]:
        body = {
            "amount": 4200,
            "currency": "eur",
            "success_url": f"{self.demo_url}/?order={name}",
            "cancel_url": f"{self.demo_url}/?cancelled={name}",
            **fields,
        }
        return self._call("POST", "/v1/payment_intents", f"browser-{name}", **body)

    def cancel(self, intent_id: str) -> dict[str, Any]:
        path = f"/v1/payment_intents/{intent_id}/cancel"
        reason = "requested_by_customer"
        return self._call("POST", path, f"cancel-{intent_id}", cancellation_reason=reason)

    def get(self, intent_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/payment_intents/{intent_id}")


async def expire(gateway: Gateway, intent_id: str) -> None:
    """The intent was created two hours ago; the worker's expiry job runs once."""
    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE payment_intents SET created = created - interval '2 hours' "
                    "WHERE id = :id"
                ),
                {"id": intent_id},
            )
    finally:
        await engine.dispose()
    settings = Settings(
        database_url=gateway.database_url, data_dir=gateway.data_dir, db_pool_size=1
    )
    app = build_app(settings, gateway.database_url)
    try:
        assert intent_id in await app.payments.expire_unconfirmed()
    finally:
        await app.aclose()


@pytest.fixture(scope="module")
async def checkout_database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """Its own: this gateway's acquirer role keeps books the session gateway's does not."""
    async with fresh_database(postgres_admin_url, "paygate_checkout") as url:
        yield url


@pytest.fixture(scope="module")
def checkout_gateway(checkout_database_url: str) -> Iterator[Gateway]:
    with running_gateway(checkout_database_url, demo_shop=True) as running:
        yield running


@pytest.fixture(scope="module")
async def browser_run(checkout_gateway: Gateway, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Prepares an intent per flow, runs them all in Chromium, returns the report."""
    shop = Shop(checkout_gateway, checkout_gateway.demo_url)
    card_flows = ["card_success", "decline_then_retry", "three_ds_pass", "three_ds_fail"]
    scenarios: dict[str, dict[str, Any]] = {}
    for name in [*card_flows, "keyboard_only"]:
        intent = shop.intent(name)
        scenarios[name] = {"intentId": intent["id"], "checkoutUrl": intent["checkout_url"]}
    scenarios["already_paid"] = dict(scenarios["card_success"])  # runs after it
    canceled = shop.cancel(shop.intent("canceled")["id"])
    scenarios["canceled"] = {"intentId": canceled["id"], "checkoutUrl": canceled["checkout_url"]}
    upi = shop.intent("upi_success", currency="inr", payment_method_types=["card", "upi"])
    scenarios["upi_success"] = {"intentId": upi["id"], "checkoutUrl": upi["checkout_url"]}
    expired = shop.intent("expired")
    await expire(checkout_gateway, expired["id"])
    scenarios["expired"] = {"intentId": expired["id"], "checkoutUrl": expired["checkout_url"]}
    scenarios["checkout_js_demo"] = {}
    for name, scenario in scenarios.items():
        scenario["amountText"] = "₹42.00" if name == "upi_success" else "€42.00"

    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    config = {
        "chromium": chromium(),
        "artifacts": str(ARTIFACTS),
        "demoUrl": shop.demo_url,
        "successUrl": f"{shop.demo_url}/?order=",
        "scenarios": scenarios,
    }
    config_path, results_path = ARTIFACTS / "config.json", ARTIFACTS / "results.json"
    config_path.write_text(json.dumps(config, indent=2))
    node = shutil.which("node")
    assert node, "node is missing (it runs `make gen` too)"
    run = await asyncio.to_thread(
        subprocess.run,
        [node, str(FLOWS), str(config_path), str(results_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"},
    )
    # Past pytest's capture, so that every run says where the screenshots are.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\ncheckout screenshots: {ARTIFACTS}", flush=True)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    report: dict[str, Any] = json.loads(results_path.read_text())
    report["shop"] = shop
    report["prepared"] = scenarios
    return report


def flow(report: dict[str, Any], name: str) -> dict[str, Any]:
    result: dict[str, Any] = report["scenarios"][name]
    assert result["ok"], f"{name}: {result.get('error')} (at {result.get('url')})"
    return result


def intent_of(report: dict[str, Any], name: str) -> dict[str, Any]:
    shop: Shop = report["shop"]
    return shop.get(report["prepared"][name]["intentId"])


def test_a_card_payment_lands_on_success_url_with_the_intent_succeeded(
    browser_run: dict[str, Any],
) -> None:
    result = flow(browser_run, "card_success")
    assert "€42.00" in result["summary"]
    assert result["brand"] == "Visa"
    assert "redirect_status=succeeded" in result["url"]
    intent = intent_of(browser_run, "card_success")
    assert intent["status"] == "SUCCEEDED"
    assert intent["amount_received"] == "4200"


def test_a_declined_card_shows_the_decline_and_the_shopper_retries(
    browser_run: dict[str, Any],
) -> None:
    result = flow(browser_run, "decline_then_retry")
    assert result["message"].startswith("Your card was declined.")
    assert result["focused"] == "card-number"
    intent = intent_of(browser_run, "decline_then_retry")
    assert intent["status"] == "SUCCEEDED"
    assert intent["attempts"] == 2


def test_the_3ds_card_passes_the_challenge(browser_run: dict[str, Any]) -> None:
    flow(browser_run, "three_ds_pass")
    assert intent_of(browser_run, "three_ds_pass")["status"] == "SUCCEEDED"


def test_the_3ds_card_fails_the_challenge(browser_run: dict[str, Any]) -> None:
    result = flow(browser_run, "three_ds_fail")
    assert "Your bank could not confirm it was you." in result["message"]
    assert result["challengeGone"]
    assert "/checkout/" in result["url"]  # still on the checkout, free to try again
    intent = intent_of(browser_run, "three_ds_fail")
    assert intent["status"] == "REQUIRES_PAYMENT_METHOD"
    assert intent["last_payment_error"]["decline_code"] == "authentication_failed"


def test_upi_collect_to_success_at_upi_completes(browser_run: dict[str, Any]) -> None:
    result = flow(browser_run, "upi_success")
    assert result["deepLink"].startswith("upi://")
    assert intent_of(browser_run, "upi_success")["status"] == "SUCCEEDED"


def test_keyboard_only_payment(browser_run: dict[str, Any]) -> None:
    result = flow(browser_run, "keyboard_only")
    assert result["order"] == ["card-number", "card-expiry", "card-cvc", "card-name", "BUTTON"]
    assert result["typed"] == "4242 4242 4242 4242"
    assert intent_of(browser_run, "keyboard_only")["status"] == "SUCCEEDED"


def test_checkout_js_on_the_demo_page_fires_on_success(browser_run: dict[str, Any]) -> None:
    result = flow(browser_run, "checkout_js_demo")
    assert result["buyEnabled"]  # onClose ran after Escape
    shop: Shop = browser_run["shop"]
    assert shop.get(result["intentId"])["status"] == "SUCCEEDED"


def test_an_expired_intent_shows_its_message(browser_run: dict[str, Any]) -> None:
    result = flow(browser_run, "expired")
    assert result["heading"] == "This payment link has expired"
    assert not result["formShown"]


def test_a_paid_intent_says_so_and_charges_nothing_more(browser_run: dict[str, Any]) -> None:
    result = flow(browser_run, "already_paid")
    assert result["heading"] == "This payment has already been made"
    assert not result["formShown"]
    assert "/checkout/" in result["url"]  # no redirect the second time
    assert intent_of(browser_run, "card_success")["attempts"] == 1


def test_a_canceled_intent_says_so_and_leads_back(browser_run: dict[str, Any]) -> None:
    result = flow(browser_run, "canceled")
    assert result["heading"] == "This payment was canceled"
    assert "redirect_status=canceled" in result["back"]
    assert "cancelled=canceled" in result["back"]  # the intent's cancel_url


def test_no_card_number_leaves_the_browser_except_to_tokenization(
    browser_run: dict[str, Any],
) -> None:
    network = browser_run["network"]
    assert network["leaks"] == []
    # The check sees card numbers where they are: every card typed went to CreateToken.
    tokenized = {entry["last4"] for entry in network["tokenizations"]}
    assert tokenized == {"4242", "0002", "3184"}


def test_every_confirm_carries_the_device_fingerprint(browser_run: dict[str, Any]) -> None:
    confirms = browser_run["network"]["confirms"]
    assert confirms, "no confirm was sent"
    assert all(entry["device"].startswith("dev_") for entry in confirms), confirms
    # One browser context per flow: each its own device, the same for each of its confirms.
    per_flow: dict[str, set[str]] = {}
    for entry in confirms:
        per_flow.setdefault(entry["scenario"], set()).add(entry["device"])
    assert all(len(devices) == 1 for devices in per_flow.values()), per_flow


def test_the_pages_run_without_errors_under_their_csp(browser_run: dict[str, Any]) -> None:
    # A CSP violation or an uncaught exception shows up as a console error. The declined
    # confirm's 400 may be logged by the browser as a failed resource; nothing else.
    errors = [e for e in browser_run["console"] if "Failed to load resource" not in e["text"]]
    assert errors == []


def test_screenshots_are_saved(browser_run: dict[str, Any]) -> None:
    shots = sorted(p.name for p in ARTIFACTS.glob("*.png"))
    assert "card_success-landed.png" in shots
    assert "three_ds-challenge.png" in shots
    assert "demo-success.png" in shots
