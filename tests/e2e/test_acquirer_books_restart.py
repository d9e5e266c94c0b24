"""The acquirers never forget: a day of mixed traffic across every acquirer the default
routing uses (the card network for USD, Orbit for EUR, Kora for ZAR, the UPI switch, the
wallet and the net banking gateway), with
a restart of the whole gateway in the middle, reconciles with 0 differences per acquirer,
and an authorization made before the restart is captured after it. The acquirer role's
and the PSP role's books are journaled under the data dir
(sandbox/acquirer/books_journal.py) and taken up again when the roles start."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
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
# The currency that the default routing sends to each card acquirer first.
CARD_ACQUIRERS = {"usd": "card_network_simulator", "eur": "orbit", "zar": "kora"}


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

    def pay(
        self, amount: int, currency: str, *, card: str = APPROVED, manual: bool = False
    ) -> dict[str, Any]:
        token = self.rest.post(
            "/v1/tokens",
            json={"card": {"number": card, "exp_month": 12, "exp_year": 2040, "cvc": "123"}},
            headers={"Authorization": f"Bearer {self.gateway.publishable_key}", **key()},
        )
        assert token.status_code == 200, token.text
        body: dict[str, Any] = {"amount": amount, "currency": currency}
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

    def pay_by_upi(self, amount: int) -> None:
        """A collect that success@upi approves after a short delay."""
        body = {"amount": amount, "currency": "inr", "payment_method_types": ["upi"]}
        created = self.rest.post("/v1/payment_intents", json=body, headers=key())
        assert created.status_code == 200, created.text
        intent_id = created.json()["id"]
        confirmed = self.rest.post(
            f"/v1/payment_intents/{intent_id}/confirm",
            json={"upi": {"vpa": "success@upi"}},
            headers=key(),
        )
        assert confirmed.status_code == 200, confirmed.text
        status, deadline = confirmed.json()["status"], time.monotonic() + 30
        while status in ("REQUIRES_ACTION", "PROCESSING") and time.monotonic() < deadline:
            time.sleep(0.5)
            status = self.rest.get(f"/v1/payment_intents/{intent_id}").json()["status"]
        assert status == "SUCCEEDED"

    def pay_by_redirect(self, method: str, choice: dict[str, str], answer: dict[str, str]) -> str:
        """A wallet or net banking payment the shopper approves on the provider's page (the
        form post their browser makes); the worker's poller learns it. Returns its id."""
        body = {"amount": 74_900, "currency": "inr", "payment_method_types": [method]}
        created = self.rest.post("/v1/payment_intents", json=body, headers=key())
        assert created.status_code == 200, created.text
        intent_id = created.json()["id"]
        confirmed = self.rest.post(
            f"/v1/payment_intents/{intent_id}/confirm",
            json={method: choice, "return_url": "https://shop.example/order/42"},
            headers=key(),
        )
        assert confirmed.status_code == 200, confirmed.text
        page = confirmed.json()["next_action"]["url"]
        with httpx.Client(timeout=30) as browser:
            answered = browser.post(page, data=answer)
        assert answered.status_code == 303, answered.text
        status, deadline = "REQUIRES_ACTION", time.monotonic() + 60
        while status in ("REQUIRES_ACTION", "PROCESSING") and time.monotonic() < deadline:
            time.sleep(0.5)
            status = self.rest.get(f"/v1/payment_intents/{intent_id}").json()["status"]
        assert status == "SUCCEEDED", (method, status)
        return str(intent_id)

    def refund(self, intent_id: str, amount: int) -> None:
        refunded = self.rest.post(
            "/v1/refunds", json={"payment_intent": intent_id, "amount": amount}, headers=key()
        )
        assert refunded.status_code == 200, refunded.text

    def close(self) -> None:
        self.rest.close()


# The test identities that approve (docs/wallets-and-netbanking.md).
REDIRECTS = {
    "wallet": ({"provider": "paytm"}, {"account": "9999999999", "decision": "approve"}),
    "netbanking": ({"bank": "HDFC"}, {"login": "success", "decision": "approve"}),
}


def traffic(shop: Shop) -> list[dict[str, Any]]:
    """At each card acquirer: a charge, a decline, a partially refunded charge; a UPI
    collect; at the wallet and at the bank, a partially refunded payment. Returns a manual
    authorization per card acquirer, to capture later."""
    held = []
    for currency in CARD_ACQUIRERS:
        assert shop.pay(1100, currency)["status"] == "SUCCEEDED"
        assert "declined" in shop.pay(900, currency, card=DECLINED)
        refunded = shop.pay(4000, currency)
        shop.refund(refunded["id"], 1500)
        held.append(shop.pay(3100, currency, manual=True))
        assert held[-1]["status"] == "REQUIRES_CAPTURE", held[-1]
    shop.pay_by_upi(2500)
    for method, (choice, answer) in REDIRECTS.items():
        shop.refund(shop.pay_by_redirect(method, choice, answer), 20_000)
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
    for books in (
        "acquirer/card_network",
        "acquirer/upi_switch",
        "psp/orbit",
        "psp/kora",
        "psp/wallet",
        "psp/netbanking",
    ):
        assert (data_dir / f"{books}.jsonl").exists(), books  # the books on disk

    with (data_dir / "gateway-2.log").open("w") as out, start_gateway(settings, out=out) as second:
        shop = Shop(second)
        # Authorized before the restart, captured after it: each acquirer remembers it.
        for held in [*held_before, *traffic(shop)]:
            assert shop.capture(held["id"])["status"] == "SUCCEEDED"
        shop.close()
        if datetime.now(UTC).date() != day:
            pytest.skip("the UTC day turned during the test")
        code, said = paygate(second, "reconcile", "--date", day.isoformat())
    summary = said[-1]
    differences = "; ".join(
        f"{line['kind']} at {line.get('acquirer')}: {line['detail']}"
        for line in said
        if line["msg"] == "difference"
    )
    assert (code, summary["msg"], summary["differences"]) == (0, "reconciled", 0), differences
    # Both halves of the day are in each card acquirer's lines: 2 x (1 charge + 1 refunded
    # charge + 1 refund + 1 manual capture) = 8; the UPI switch's, 2 collects; the
    # wallet's and the bank's, 2 x (1 payment + 1 refund) = 4.
    parts = {
        part["acquirer"]: (part["acquirer_lines"], part["matched"], part["differences"])
        for part in summary["acquirers"]
    }
    expected = {name: (8, 8, 0) for name in CARD_ACQUIRERS.values()}
    redirects = {method: (4, 4, 0) for method in REDIRECTS}
    assert parts == {**expected, "upi_simulator": (2, 2, 0), **redirects}, summary
    assert summary["acquirer_lines"] == 34, summary
