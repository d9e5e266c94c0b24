"""Client-side faults from Envoy's fault filter (on only in test builds:
PAYGATE_ENVOY_FAULT_INJECTION), driven by the request's x-envoy-fault-* headers. A
merchant's client that gets an injected 503, or no answer within its own timeout, retries
with the same Idempotency-Key: the result is exactly one payment, counted at the acquirer
and in the ledger.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.faults.proxied import Proxied, long_profile, payments_of

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
ABORT = {"x-envoy-fault-abort-request": "503"}
# Envoy holds the request this long (ms) before passing it on; the client gives up first.
DELAY = {"x-envoy-fault-delay-request": "3000"}
# The answer comes back at 1 KiB/s: the payment is made, the client gives up reading.
TRICKLE = {"x-envoy-fault-throughput-response": "1"}
PATIENCE = 0.5  # seconds the client waits for a whole answer


class Merchant:
    """A merchant's server calling the REST API the way a careful client does: one
    Idempotency-Key per operation, the same key on every retry of it."""

    def __init__(self, http: httpx.AsyncClient, secret_key: str) -> None:
        self.http = http
        self.auth = {"Authorization": f"Bearer {secret_key}"}
        self.tries: list[str] = []

    async def call(self, path: str, body: dict[str, Any], fault: dict[str, str]) -> httpx.Response:
        """The first try carries the fault headers, the retries do not."""
        key = {"Idempotency-Key": str(uuid.uuid4())}
        headers = self.auth | key | fault
        for _ in range(20):
            try:
                answer = await asyncio.wait_for(
                    self.http.post(path, json=body, headers=headers), PATIENCE if fault else 30
                )
            except (TimeoutError, httpx.TransportError):
                self.tries.append("no answer")
            else:
                self.tries.append(str(answer.status_code))
                if answer.status_code not in (409, 503):  # 409: the first try still runs
                    return answer
            headers = self.auth | key
            await asyncio.sleep(0.2)
        raise AssertionError(f"no answer after {self.tries}")


async def pay_through_faults(proxied: Proxied, fault: dict[str, str]) -> tuple[Merchant, str]:
    gateway = proxied.gateway
    pk = {"Authorization": f"Bearer {gateway.publishable_key}"}
    async with httpx.AsyncClient(base_url=gateway.rest_url, timeout=30) as http:
        merchant = Merchant(http, gateway.secret_key)
        token = await http.post("/v1/tokens", json={"card": CARD}, headers=pk)
        created = await merchant.call(
            "/v1/payment_intents", {"amount": 2500, "currency": "usd"}, fault
        )
        assert created.status_code == 200, created.text
        intent_id = created.json()["id"]
        paid = await merchant.call(
            f"/v1/payment_intents/{intent_id}/confirm",
            {"payment_method": token.json()["id"]},
            fault,
        )
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "SUCCEEDED", paid.text
    return merchant, intent_id


async def test_an_injected_503_is_retried_into_exactly_one_payment(proxied: Proxied) -> None:
    merchant, intent_id = await pay_through_faults(proxied, ABORT)
    assert merchant.tries == ["503", "200", "503", "200"]
    outcomes, entries = await payments_of(proxied.gateway, intent_id)
    assert outcomes == ["APPROVED"]
    assert entries and set(entries.values()) == {1}, entries


async def test_an_answer_slower_than_the_client_is_retried_into_exactly_one_payment(
    proxied: Proxied,
) -> None:
    merchant, intent_id = await pay_through_faults(proxied, TRICKLE)
    assert merchant.tries[0] == "no answer" and merchant.tries[-1] == "200", merchant.tries
    outcomes, entries = await payments_of(proxied.gateway, intent_id)
    assert outcomes == ["APPROVED"]
    assert entries and set(entries.values()) == {1}, entries


@long_profile
async def test_a_request_delayed_past_the_client_timeout(proxied: Proxied) -> None:
    merchant, intent_id = await pay_through_faults(proxied, DELAY)
    assert merchant.tries[0] == "no answer", merchant.tries
    outcomes, entries = await payments_of(proxied.gateway, intent_id)
    assert outcomes == ["APPROVED"]
    assert entries and set(entries.values()) == {1}, entries


@long_profile
async def test_without_fault_headers_nothing_is_injected(proxied: Proxied) -> None:
    merchant, intent_id = await pay_through_faults(proxied, {})
    assert merchant.tries == ["200", "200"]
    assert (await payments_of(proxied.gateway, intent_id))[0] == ["APPROVED"]
