"""The acquirer never forgets: a day of mixed traffic with a restart of the whole gateway in
the middle reconciles with 0 differences, and an authorization made before the restart is
captured after it. The acquirer role's books are journaled under the data dir
(sandbox/acquirer/books_journal.py) and taken up again when the role starts."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from servers.runtime.settings import Settings
from tests.databases import fresh_database
from tests.e2e.conftest import gateway_settings
from tests.e2e.gateway import Gateway, start_gateway
from tests.e2e.test_ledger_e2e import paygate

APPROVED = "4242424242424242"
DECLINED = "4000000000000002"


@pytest.fixture
async def books_database(postgres_admin_url: str) -> AsyncIterator[str]:
    # A database of its own: the day reconciled is this test's traffic only.
    async with fresh_database(postgres_admin_url, "paygate_books") as url:
        yield url


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="paygate-books-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


class Shop:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.rest = httpx.Client(
            base_url=gateway.rest_url,
            headers={"Authorization": f"Bearer {gateway.secret_key}"},
            timeout=30,
        )

    def pay(self, amount: int, *, card: str = APPROVED, manual: bool = False) -> dict[str, Any]:
        token = self.rest.post(
            "/v1/tokens",
            json={"card": {"number": card, "exp_month": 12, "exp_year": 2040, "cvc": "123"}},
            headers={"Authorization": f"Bearer {self.gateway.publishable_key}", **key()},
        )
        assert token.status_code == 200, token.text
        body: dict[str, Any] = {"amount": amount, "currency": "eur"}
        if manual:
            body["capture_method"] = "MANUAL"
        created = self.rest.post("/v1/payment_intents", json=body, headers=key())
        assert created.status_code == 200, created.text
        confirmed = self.rest.post(
            f"/v1/payment_intents/{created.json()['id']}/confirm",
            json={"payment_method": token.json()["id"]},
            headers=key(),
        )
        intent: dict[str, Any] = (
            confirmed.json() if confirmed.status_code == 200 else {"declined": confirmed.json()}
        )
        return intent

    def capture(self, intent_id: str) -> dict[str, Any]:
        captured = self.rest.post(
            f"/v1/payment_intents/{intent_id}/capture", json={}, headers=key()
        )
        assert captured.status_code == 200, captured.text
        intent: dict[str, Any] = captured.json()
        return intent

    def refund(self, intent_id: str, amount: int) -> None:
        refunded = self.rest.post(
            "/v1/refunds", json={"payment_intent": intent_id, "amount": amount}, headers=key()
        )
        assert refunded.status_code == 200, refunded.text

    def close(self) -> None:
        self.rest.close()


def traffic(shop: Shop) -> dict[str, Any]:
    """Charges, a decline, a partial refund; returns a manual authorization to capture later."""
    for amount in (1100, 2300):
        assert shop.pay(amount)["status"] == "SUCCEEDED"
    assert "declined" in shop.pay(900, card=DECLINED)
    refunded = shop.pay(4000)
    shop.refund(refunded["id"], 1500)
    held = shop.pay(3100, manual=True)
    assert held["status"] == "REQUIRES_CAPTURE", held
    return held


def test_a_restart_in_the_middle_of_a_day_reconciles_with_no_difference(
    books_database: str, data_dir: Path
) -> None:
    settings: Settings = gateway_settings(books_database, data_dir, api_processes=1)
    settings = dataclasses.replace(settings, web_port=0)
    day = datetime.now(UTC).date()
    with (data_dir / "gateway-1.log").open("w") as out, start_gateway(settings, out=out) as first:
        shop = Shop(first)
        held_before = traffic(shop)
        shop.close()
    assert (data_dir / "acquirer" / "card_network.jsonl").exists()  # the books on disk

    with (data_dir / "gateway-2.log").open("w") as out, start_gateway(settings, out=out) as second:
        shop = Shop(second)
        # Authorized before the restart, captured after it: the acquirer remembers it.
        assert shop.capture(held_before["id"])["status"] == "SUCCEEDED"
        held_after = traffic(shop)
        assert shop.capture(held_after["id"])["status"] == "SUCCEEDED"
        shop.close()
        if datetime.now(UTC).date() != day:
            pytest.skip("the UTC day turned during the test")
        code, said = paygate(second, "reconcile", "--date", day.isoformat())
    summary = said[-1]
    assert (code, summary["msg"], summary["differences"]) == (0, "reconciled", 0), said
    # Both halves of the day are in the acquirer's lines: 2 x (2 charges + 1 refunded
    # charge + 1 refund + 1 manual capture) = 10.
    assert summary["acquirer_lines"] == 10, summary
