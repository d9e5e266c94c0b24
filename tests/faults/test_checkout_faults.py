"""The hosted checkout in headless Chromium when the shopper's confirm meets a fault
(tests/e2e/browser/checkout_faults.mjs): an abort injected by Envoy's fault filter (503),
an answer lost after the gateway paid (a 503 in its place; the page's read of the intent
that follows lost too, or not), and a confirm held 3 s by Envoy. The page says what
happened and that the shopper may try again; the retry is the same request under the same
Idempotency-Key, and there is exactly one payment: one approval at the acquirer and one
capture in the ledger. Screenshots under var/artifacts/checkout-faults/.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.databases import fresh_database
from tests.e2e.browser_run import fresh_artifacts, run_script
from tests.e2e.conftest import running_gateway
from tests.e2e.gateway import Gateway
from tests.faults.proxied import payments_of

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "e2e" / "browser" / "checkout_faults.mjs"
ARTIFACTS = ROOT / "var" / "artifacts" / "checkout-faults"
RUN_TIMEOUT = 300  # four flows, each bounded by the script at 60 s
SCENARIOS = ("abort", "answer_lost", "answer_lost_read", "delay")
RETRYABLE = "We could not reach the payment service. Check your connection and try again."


@pytest.fixture(scope="module")
async def checkout_faults_database(postgres_admin_url: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_admin_url, "paygate_checkout_faults") as url:
        yield url


@pytest.fixture(scope="module")
def faulty_gateway(checkout_faults_database: str) -> Iterator[Gateway]:
    with running_gateway(
        checkout_faults_database,
        api_processes=1,
        envoy_fault_injection=True,
        stripe_port=0,
        start_budget=240.0,
    ) as running:
        yield running


@pytest.fixture(scope="module")
async def browser_run(
    faulty_gateway: Gateway, request: pytest.FixtureRequest
) -> dict[str, dict[str, Any]]:
    scenarios: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(base_url=faulty_gateway.rest_url, timeout=30) as http:
        for name in SCENARIOS:
            created = await http.post(
                "/v1/payment_intents",
                json={"amount": 4200, "currency": "usd"},
                headers={
                    "Authorization": f"Bearer {faulty_gateway.secret_key}",
                    "Idempotency-Key": f"checkout-faults-{name}",
                },
            )
            assert created.status_code == 200, created.text
            intent = created.json()
            scenarios[name] = {
                "intentId": intent["id"],
                "checkoutUrl": intent["checkout_url"],
                "amountText": "$42.00",
            }
    report = await run_script(
        SCRIPT,
        {"scenarios": scenarios},
        fresh_artifacts(ARTIFACTS),
        request,
        what="checkout under faults",
        seconds=RUN_TIMEOUT,
    )
    for name, prepared in scenarios.items():
        report["scenarios"][name]["intentId"] = prepared["intentId"]
    results: dict[str, dict[str, Any]] = report["scenarios"]
    return results


async def paid_once(gateway: Gateway, intent_id: str) -> dict[str, Any]:
    """One approval at the acquirer and each ledger entry kind once; the intent's view."""
    outcomes, entries = await payments_of(gateway, intent_id)
    assert outcomes == ["APPROVED"], outcomes
    assert entries == Counter({"CAPTURE": 1}), entries
    async with httpx.AsyncClient(base_url=gateway.rest_url, timeout=30) as http:
        got = await http.get(
            f"/v1/payment_intents/{intent_id}",
            headers={"Authorization": f"Bearer {gateway.secret_key}"},
        )
    intent: dict[str, Any] = got.json()
    assert intent["status"] == "SUCCEEDED"
    assert intent["amount_received"] == "4200"
    return intent


def flow(results: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    result = results[name]
    assert result["ok"], f"{name}: {result.get('error')} (at {result.get('url')})"
    return result


@pytest.mark.parametrize("name", ["abort", "answer_lost"])
async def test_a_confirm_that_failed_on_the_way_is_retried_as_the_same_request(
    faulty_gateway: Gateway, browser_run: dict[str, dict[str, Any]], name: str
) -> None:
    result = flow(browser_run, name)
    assert result["message"] == RETRYABLE
    first, retry = result["confirms"]
    assert first["key"] and retry["key"] == first["key"]  # the same Idempotency-Key
    assert result["tokenizations"] == 1  # the retry confirms with the same token
    assert retry["status"] == 200
    # The answer that was lost is replayed; the request that never arrived is done now.
    assert retry["replayed"] == ("true" if name == "answer_lost" else "")
    await paid_once(faulty_gateway, result["intentId"])


async def test_a_confirm_held_by_envoy_waits_and_is_sent_once(
    faulty_gateway: Gateway, browser_run: dict[str, dict[str, Any]]
) -> None:
    result = flow(browser_run, "delay")
    assert result["disabled"]  # no second Pay while the first is on its way
    assert len(result["confirms"]) == 1
    intent = await paid_once(faulty_gateway, result["intentId"])
    assert intent["attempts"] == 1


async def test_a_lost_answer_that_the_page_finds_paid_shows_success_alone(
    faulty_gateway: Gateway, browser_run: dict[str, dict[str, Any]]
) -> None:
    """After the error the page reads the intent, finds it paid and says so; the error
    about the try that was in fact paid is gone."""
    result = flow(browser_run, "answer_lost_read")
    assert result["staleError"] == ""
    assert len(result["confirms"]) == 1
    await paid_once(faulty_gateway, result["intentId"])
