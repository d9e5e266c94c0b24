"""The acquirer role stops answering (SIGSTOP: a black hole; the kernel still accepts the
TCP connection, nothing comes back):

- before the API process's channel to it was ever connected, nothing can be sent: the
  confirm answers UNAVAILABLE (ACQUIRER_UNAVAILABLE, "nothing was charged");
- once the channel is connected, the request leaves and no answer comes: the confirm
  answers with the intent PROCESSING, never a decline; when the role answers again, the
  worker's recovery asks it, and our books say what the acquirer's say (authorized once,
  or never received).

The card network is the only route here: with a second one (`make run`'s default sends
a card the network could not be sent to on to Orbit), the unsent confirm fails over
instead, which tests/e2e/test_failover_e2e.py shows.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapters.sql.engine import create_engine
from servers.bootstrap.routing import CARD_NETWORK
from tests.e2e.conftest import running_gateway
from tests.e2e.gateway import Gateway
from tests.faults import invariants
from tests.faults.waiting import eventually

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}


ONLY_THE_CARD_NETWORK = [{"name": "cards", "method": "card", "routes": [CARD_NETWORK]}]


@pytest.fixture(scope="module")
def short_fuse_gateway(gateway_database_url: str) -> Iterator[Gateway]:
    with running_gateway(
        gateway_database_url,
        api_processes=1,
        web_process=False,
        acquirer_timeout=2.0,
        recovery_after_seconds=3,
        routing=json.dumps(ONLY_THE_CARD_NETWORK),
    ) as running:
        yield running


async def confirm_while_stopped(
    http: httpx.AsyncClient, sk: dict[str, str], intent_id: str, token: str, acquirer: int
) -> httpx.Response:
    os.kill(acquirer, signal.SIGSTOP)
    try:
        return await http.post(
            f"/v1/payment_intents/{intent_id}/confirm", json={"payment_method": token}, headers=sk
        )
    finally:
        os.kill(acquirer, signal.SIGCONT)


async def pay(http: httpx.AsyncClient, sk: dict[str, str], pk: dict[str, str]) -> None:
    token = (await http.post("/v1/tokens", json={"card": CARD}, headers=pk)).json()["id"]
    intent = (
        await http.post("/v1/payment_intents", json={"amount": 100, "currency": "usd"}, headers=sk)
    ).json()
    paid = await http.post(
        f"/v1/payment_intents/{intent['id']}/confirm", json={"payment_method": token}, headers=sk
    )
    assert paid.status_code == 200, paid.text


async def test_a_black_holed_acquirer_leaves_the_intent_processing_then_recovered(
    short_fuse_gateway: Gateway,
) -> None:
    gateway = short_fuse_gateway
    sk = {"Authorization": f"Bearer {gateway.secret_key}"}
    pk = {"Authorization": f"Bearer {gateway.publishable_key}"}
    async with httpx.AsyncClient(base_url=gateway.rest_url, timeout=60) as http:
        token = (await http.post("/v1/tokens", json={"card": CARD}, headers=pk)).json()["id"]
        intent = (
            await http.post(
                "/v1/payment_intents",
                json={"amount": 4100, "currency": "usd", "capture_method": "MANUAL"},
                headers=sk,
            )
        ).json()
        acquirer = gateway.pids["acquirer"]
        cold = await confirm_while_stopped(http, sk, intent["id"], token, acquirer)
        assert cold.status_code == 503, cold.text
        assert cold.json()["details"][0]["reason"] == "ACQUIRER_UNAVAILABLE"

        # A payment connects the channel; then the same intent again, with a new token.
        await pay(http, sk, pk)
        token = (await http.post("/v1/tokens", json={"card": CARD}, headers=pk)).json()["id"]
        confirmed = await confirm_while_stopped(http, sk, intent["id"], token, acquirer)
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == "PROCESSING"  # outcome unknown, not declined

        async def settled() -> dict[str, Any]:
            got = (await http.get(f"/v1/payment_intents/{intent['id']}", headers=sk)).json()
            return got if got["status"] != "PROCESSING" else {}

        final = await eventually(settled)
    # The role may have booked the request when it woke up, or refused it as past its
    # deadline: recovery asked it, and our books say what its books say.
    assert final["status"] in ("REQUIRES_CAPTURE", "REQUIRES_PAYMENT_METHOD"), final
    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            _, problems = await invariants.acquirer_books(gateway, connection)
            assert problems == []
            assert await invariants.stuck(connection) == []
    finally:
        await engine.dispose()
    assert gateway.pids["acquirer"] == acquirer  # the same books: nothing was reset
