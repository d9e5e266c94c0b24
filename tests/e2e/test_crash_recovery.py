"""Kill -9 of the API process between the acquirer's authorization and the transaction that
records it: after the restart, the worker's recovery asks the acquirer and settles the
attempt. Nothing stays PROCESSING and nothing is authorized twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import TypeVar

import httpx
import pytest
from sqlalchemy import text

from adapters.sql.engine import create_engine
from servers.bootstrap.acquirers import acquirer_clients
from tests.databases import fresh_database
from tests.e2e.conftest import running_gateway
from tests.e2e.gateway import Gateway

# Every acquirer call takes this long: the window in which the API process dies.
ACQUIRER_LATENCY = 3.0
RECOVERY_AFTER = 2

T = TypeVar("T")


@pytest.fixture(scope="module")
async def crash_database(postgres_admin_url: str) -> AsyncIterator[str]:
    # A database of its own: this gateway's acquirer is its own too, so a capture it
    # records must not reach the books that the session's gateway reconciles.
    async with fresh_database(postgres_admin_url, "paygate_crash") as url:
        yield url


@pytest.fixture(scope="module")
def slow_gateway(crash_database: str) -> Iterator[Gateway]:
    with running_gateway(
        crash_database,
        api_processes=1,
        web_process=False,
        simulator_latency=ACQUIRER_LATENCY,
        recovery_after_seconds=RECOVERY_AFTER,
    ) as running:
        yield running


async def attempts_of(gateway: Gateway, intent_id: str) -> list[tuple[str, str]]:
    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT id, status FROM payment_attempts WHERE payment_intent_id = :id"),
                {"id": intent_id},
            )
            return [(row.id, row.status) for row in rows]
    finally:
        await engine.dispose()


async def wait_for(check: Callable[[], Awaitable[T]], what: str, within: float = 90.0) -> T:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


# MANUAL: the authorization's answer is lost. AUTOMATIC: a sale's (docs/connectors.md, "a
# sale"): the card network captured it in the same message, and recovery must find it
# captured and record the authorization and the capture once, sending no capture.
SETTLES_TO = {"MANUAL": "REQUIRES_CAPTURE", "AUTOMATIC": "SUCCEEDED"}


@pytest.mark.parametrize("capture_method", sorted(SETTLES_TO))
async def test_a_killed_api_process_leaves_nothing_stuck_and_nothing_authorized_twice(
    slow_gateway: Gateway, capture_method: str
) -> None:
    gateway = slow_gateway
    sk = {"Authorization": f"Bearer {gateway.secret_key}"}
    pk = {"Authorization": f"Bearer {gateway.publishable_key}"}
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
    async with httpx.AsyncClient(base_url=gateway.rest_url, timeout=60) as http:
        token = (await http.post("/v1/tokens", json={"card": card}, headers=pk)).json()["id"]
        intent = (
            await http.post(
                "/v1/payment_intents",
                json={"amount": 4200, "currency": "usd", "capture_method": capture_method},
                headers=sk,
            )
        ).json()
        confirm = asyncio.create_task(
            http.post(
                f"/v1/payment_intents/{intent['id']}/confirm",
                json={"payment_method": token},
                headers=sk,
            )
        )

        # Phase 1 is committed (the attempt is PROCESSING) and the acquirer is working:
        # now the process that waits for its answer dies without a word.
        async def in_flight() -> list[tuple[str, str]]:
            rows = await attempts_of(gateway, intent["id"])
            return rows if rows and rows[0][1] == "PROCESSING" else []

        await wait_for(in_flight, "the attempt to be in flight")

        # The cardholder-data zone (in the API process) takes the card out of the vault
        # after phase 1, then sends: once the token is used, the request is on its way, and
        # the acquirer takes ACQUIRER_LATENCY seconds to answer.
        async def detokenized() -> bool:
            engine = create_engine(gateway.database_url, pool_size=1)
            try:
                async with engine.connect() as connection:
                    status = await connection.scalar(
                        text("SELECT status FROM vault.tokens WHERE id = :id"), {"id": token}
                    )
            finally:
                await engine.dispose()
            return status == "USED"

        await wait_for(detokenized, "the zone to take the card out of the vault")
        await asyncio.sleep(ACQUIRER_LATENCY / 6)  # the send itself, well inside the latency
        killed = gateway.pids["api-0"]
        os.kill(killed, signal.SIGKILL)
        answer = await confirm
        assert answer.status_code >= 500  # the caller learns nothing; it may retry

        async def restarted() -> bool:
            pid = gateway.pids.get("api-0")
            return pid is not None and pid != killed

        await wait_for(restarted, "the launcher to restart the API process")

        async def settled() -> dict[str, object]:
            got = await http.get(f"/v1/payment_intents/{intent['id']}", headers=sk)
            body: dict[str, object] = got.json() if got.status_code == 200 else {}
            return body if body.get("status") == SETTLES_TO[capture_method] else {}

        recovered = await wait_for(settled, "recovery to settle the attempt")

    rows = await attempts_of(gateway, intent["id"])
    if capture_method == "MANUAL":
        assert recovered["amount_capturable"] == "4200"
        assert [status for _, status in rows] == ["AUTHORIZED"]  # one attempt, one authorization
        return
    assert (recovered["amount_received"], recovered["amount_capturable"]) == ("4200", "0")
    assert [status for _, status in rows] == ["CAPTURED"]
    [(attempt_id, _)] = rows
    # Captured once at the acquirer, under the sale's reference, and posted once in the
    # ledger.
    clients = acquirer_clients(
        gateway.acquirer_target,
        service_token=gateway.acquirer_service_token,
        timeout_seconds=10,
    )
    try:
        records = await clients.card_network.settlement_records(datetime.now(UTC).date())
    finally:
        await clients.aclose()
    assert [r.reference for r in records if r.attempt_reference == attempt_id] == [
        f"{attempt_id}_capture_1"
    ]
    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            entries = await connection.execute(
                text("SELECT kind FROM ledger_entries WHERE payment_intent_id = :id"),
                {"id": intent["id"]},
            )
            assert [entry.kind for entry in entries] == ["CAPTURE"]
    finally:
        await engine.dispose()
