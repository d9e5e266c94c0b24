"""A day of traffic through the real gateway: payments in three currencies, refunds, a
dispute, `paygate reconcile` against the acquirer process's own books, settlement, its
report, payouts, all on the gateway's PostgreSQL, read through Envoy.

The traffic is a merchant's: tokens with the publishable key, payment intents confirmed
with them (AUTOMATIC capture), refunds through POST /v1/refunds. Two steps still drive a
use-case directly, because they run on the worker's schedule or in the future:
  - the dispute feed: the worker does not ingest disputes yet, so `ingest_disputes` builds
    the application (servers.bootstrap.app.build_app) against the gateway's database and acquirer
    role and runs app.disputes.ingest(app.dispute_feed), as the worker's job will;
  - settlement: captures of today come due at T+2, a day that has not begun, which
    `paygate settle` refuses; the test runs SettlementBatch.run_settlement(D+2) with a
    clock at that day's start (and the dispute's decision two days ahead likewise).
`paygate reconcile` reads the acquirer role's settlement records over gRPC
(PAYGATE_ACQUIRER_TARGET; docs/ledger.md, "Reconciliation"), so the whole day of the
session reconciles: this test's movements and every other test's before it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.acquirers import settlement_file
from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.use_cases import ApiKeys
from core.ledger.disputes import Disputes
from core.ledger.records import Dispute
from core.ledger.settlement import SettlementBatch
from core.shared.secret import Secret
from sandbox.acquirer.dispute_decisions import SimulatedDisputeDecisions
from servers.bootstrap.app import build_app
from servers.runtime.settings import Settings
from tests.e2e.gateway import Gateway

ROOT = Path(__file__).resolve().parents[2]
APPROVED = "4242424242424242"
DISPUTED = "4000000000000259"  # approved, then disputed (fraudulent) after capture


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def paygate(gateway: Gateway, *args: str) -> tuple[int, list[dict[str, Any]]]:
    """Runs `paygate ARGS` as an operator would, on the gateway's database and data dir,
    with the acquirers' addresses (reconcile reads their records)."""
    env = {
        **os.environ,
        "DATABASE_URL": gateway.database_url,
        "PAYGATE_DATA_DIR": str(gateway.data_dir),
        "PAYGATE_ACQUIRER_TARGET": gateway.acquirer_target,
        "PAYGATE_ACQUIRER_SERVICE_TOKEN": gateway.acquirer_service_token,
        "PAYGATE_ORBIT_URL": gateway.orbit_url,
        "PAYGATE_KORA_URL": gateway.kora_url,
        "PAYGATE_WALLET_URL": gateway.wallet_url,
        "PAYGATE_NETBANKING_URL": gateway.netbanking_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "servers.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [
        json.loads(line)
        for line in (done.stdout + done.stderr).splitlines()
        if line.startswith("{")
    ]
    return done.returncode, lines


@dataclass
class Merchant:
    id: str
    rest: httpx.AsyncClient
    publishable_key: str

    async def charge(self, amount: int, currency: str, card: str = APPROVED) -> dict[str, Any]:
        """Tokenize, create (AUTOMATIC capture) and confirm: the intent, SUCCEEDED."""
        token = await self.rest.post(
            "/v1/tokens",
            json={"card": {"number": card, "exp_month": 12, "exp_year": 2040, "cvc": "123"}},
            headers={"Authorization": f"Bearer {self.publishable_key}", **key()},
        )
        assert token.status_code == 200, token.text
        created = await self.rest.post(
            "/v1/payment_intents", json={"amount": amount, "currency": currency}, headers=key()
        )
        assert created.status_code == 200, created.text
        confirmed = await self.rest.post(
            f"/v1/payment_intents/{created.json()['id']}/confirm",
            json={"payment_method": token.json()["id"]},
            headers=key(),
        )
        assert confirmed.status_code == 200, confirmed.text
        intent: dict[str, Any] = confirmed.json()
        assert intent["status"] == "SUCCEEDED", intent
        return intent

    async def refund(self, intent: dict[str, Any], amount: int) -> dict[str, Any]:
        refunded = await self.rest.post(
            "/v1/refunds", json={"payment_intent": intent["id"], "amount": amount}, headers=key()
        )
        assert refunded.status_code == 200, refunded.text
        refund: dict[str, Any] = refunded.json()
        assert refund["status"] == "SUCCEEDED", refund
        return refund


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def ingest_disputes(gateway: Gateway, data_dir: Path) -> list[Dispute]:
    """The worker's dispute ingestion, once: the application built as a process of the
    gateway builds it (its database, its acquirer role), reading the card network's feed."""
    settings = Settings(
        database_url=gateway.database_url,
        data_dir=data_dir,
        acquirer_target=gateway.acquirer_target,
        acquirer_service_token=Secret(gateway.acquirer_service_token),
        db_pool_size=2,
    )
    app = build_app(settings, gateway.database_url)
    try:
        return list((await app.disputes.ingest(app.dispute_feed)).opened)
    finally:
        await app.aclose()


@pytest.fixture
async def uow(gateway: Gateway) -> AsyncIterator[SqlUnitOfWorkFactory]:
    engine = create_engine(gateway.database_url, pool_size=2)
    yield SqlUnitOfWorkFactory(engine)
    await engine.dispose()


@pytest.fixture
async def merchant(gateway: Gateway, uow: SqlUnitOfWorkFactory) -> AsyncIterator[Merchant]:
    """A merchant of this test's own (the seeded one is shared with other e2e tests)."""
    seeded = await ApiKeys(uow, RandomIds(), SystemClock()).seed_merchant("Ledger e2e")
    headers = {"Authorization": f"Bearer {seeded.secret_key.plaintext}"}
    async with httpx.AsyncClient(base_url=gateway.rest_url, headers=headers, timeout=30) as rest:
        yield Merchant(seeded.merchant.id, rest, seeded.publishable_key.plaintext)


def error_reason(response: httpx.Response) -> str:
    infos = [d for d in response.json()["details"] if d["@type"].endswith("ErrorInfo")]
    return str(infos[0]["reason"])


async def test_a_day_of_traffic_settles_pays_out_and_reconciles(
    gateway: Gateway, uow: SqlUnitOfWorkFactory, merchant: Merchant, tmp_path: Path
) -> None:
    rest = merchant.rest
    day = datetime.now(UTC).date()

    # --- rates for the day, loaded as an operator does --------------------------------
    rates = tmp_path / "rates.csv"
    as_of = midnight(day).isoformat().replace("+00:00", "Z")
    rates.write_text(
        f"base,quote,rate,as_of,source\nEUR,USD,1.0869,{as_of},ecb\nUSD,JPY,151.37,{as_of},ecb\n"
    )
    code, said = paygate(gateway, "fx", "load", str(rates))
    assert code == 0, said
    assert said[-1]["msg"] == "fx rates loaded"

    # --- the day's traffic, as the merchant sends it ----------------------------------
    usd = await merchant.charge(12_000, "usd")
    eur = await merchant.charge(5000, "eur")
    await merchant.charge(8000, "jpy")
    disputed = await merchant.charge(3000, "usd", card=DISPUTED)
    await merchant.refund(usd, 2000)
    await merchant.refund(eur, 1500)

    # The card network opens the dispute on its feed; the worker's ingestion (run here
    # once, see the module docstring) records it. Other tests' disputed payments may
    # come in with it.
    deadline = time.monotonic() + 20
    mine: list[Dispute] = []
    while not mine and time.monotonic() < deadline:
        opened = await ingest_disputes(gateway, tmp_path / "ingest")
        mine = [d for d in opened if d.merchant_id == merchant.id]
        if not mine:
            await asyncio.sleep(0.2)
    (dispute,) = mine
    assert dispute.payment_intent_id == disputed["id"]

    # --- the dispute, answered through the API ----------------------------------------
    listed = (await rest.get("/v1/disputes")).json()
    assert [(d["id"], d["status"], d["amount"]) for d in listed["data"]] == [
        (dispute.id, "NEEDS_RESPONSE", "3000")
    ]
    answered = await rest.post(
        f"/v1/disputes/{dispute.id}/evidence",
        json={"receipt": "INV-2291", "product_description": "Walnut desk"},
        headers=key(),
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "UNDER_REVIEW"
    assert answered.json()["evidence"]["receipt"] == "INV-2291"

    # --- reconciliation of the day against the acquirer process: nothing to report ----
    code, said = paygate(gateway, "reconcile", "--date", day.isoformat())
    if datetime.now(UTC).date() != day:
        pytest.skip("the traffic straddled midnight UTC: its day is split in two")
    assert code == 0, said
    summary = said[-1]
    assert (summary["msg"], summary["differences"]) == ("reconciled", 0), said
    # The whole session's day reconciles (every test's payments); ours are in it.
    assert summary["ledger_movements"] == summary["acquirer_lines"]
    assert summary["ledger_totals"] == summary["acquirer_totals"]
    assert summary["payments_checked"] >= 4
    # reconcile downloaded each acquirer's records of the day into the files it read.
    acquirer_dir = gateway.data_dir / "acquirer"
    names = ("card_network_simulator", "upi_simulator", "orbit", "kora", "wallet", "netbanking")
    day_files = [acquirer_dir / settlement_file.file_name(day, name) for name in names]
    assert summary["files"] == [str(f) for f in day_files]
    by_file = {f: f.read_bytes().decode().split("\r\n") for f in day_files}
    ours = [
        row.split(",") for rows in by_file.values() for row in rows[1:] if f",{merchant.id}," in row
    ]
    assert sorted((r[0], int(r[4]), r[5]) for r in ours) == sorted(
        [
            ("CAPTURE", 12_000, "USD"),
            ("CAPTURE", 5000, "EUR"),
            ("CAPTURE", 8000, "JPY"),
            ("CAPTURE", 3000, "USD"),
            ("REFUND", 2000, "USD"),
            ("REFUND", 1500, "EUR"),
        ]
    )

    # ...and a corrupted line of an acquirer's file (Orbit's: EUR cards go there) is
    # reported.
    orbit = day_files[names.index("orbit")]
    rows = by_file[orbit]
    (line,) = [
        i
        for i, row in enumerate(rows)
        if row.startswith("CAPTURE,") and f",{merchant.id},5000,EUR," in row
    ]
    capture_reference, attempt_reference = rows[line].split(",")[1:3]
    assert attempt_reference == eur["latest_attempt"]
    rows[line] = rows[line].replace(",5000,EUR,", ",5001,EUR,")
    corrupted = tmp_path / "corrupted.csv"
    corrupted.write_text("\r\n".join(rows))
    files = [str(corrupted if f == orbit else f) for f in day_files]
    code, said = paygate(
        gateway,
        "reconcile",
        "--date",
        day.isoformat(),
        *(arg for f in files for arg in ("--acquirer-file", f)),
    )
    assert code == 1
    differences = [line for line in said if line["msg"] == "difference"]
    assert [(d["kind"], d["line"], d["reference"]) for d in differences] == [
        ("AMOUNT_MISMATCH", line + 1, capture_reference)
    ]

    # --- settlement of the day the captures came due (T+2) ----------------------------
    # `paygate settle --date D+2` would refuse a day that has not begun: the use-case runs
    # with a clock at its start (it settles every merchant's funds due by then).
    due_day = day + timedelta(days=2)
    settled = await SettlementBatch(uow, RandomIds()).run_settlement(
        due_day, midnight(due_day) + timedelta(minutes=1)
    )
    assert [(s.merchant_id, s.currency) for s in settled if s.merchant_id == merchant.id] == [
        (merchant.id, "USD")
    ]
    settlements = (await rest.get("/v1/settlements")).json()["data"]
    assert len(settlements) == 1
    settlement = settlements[0]
    assert (settlement["status"], settlement["day"], settlement["currency"]) == (
        "COMPLETED",
        due_day.isoformat(),
        "USD",
    )
    assert (await rest.get(f"/v1/settlements/{settlement['id']}")).json() == settlement

    # The report, downloaded as CSV through Envoy's transcoder (google.api.HttpBody).
    report = await rest.get(settlement["report_url"])
    assert report.status_code == 200, report.text
    assert report.headers["content-type"] == "text/csv; charset=utf-8"
    assert report.headers["content-disposition"] == (
        f'attachment; filename="{settlement["id"]}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(report.text)))
    lines, total = rows[:-1], rows[-1]
    assert sorted(line["type"] for line in lines) == sorted(
        ["CHARGE", "CHARGE", "CHARGE", "CHARGE", "REFUND", "REFUND", "DISPUTE"]
    )
    assert total["type"] == "TOTAL"
    for column in ("amount", "fee", "net"):
        assert int(total[column]) == sum(int(line[column]) for line in lines)
        assert int(total[column]) == int(settlement[column])
    assert int(settlement["transaction_count"]) == len(lines)

    # The report's lines are the ledger's balance transactions, field for field.
    transactions = (await rest.get("/v1/balance_transactions", params={"limit": 100})).json()
    ledger = {t["id"]: t for t in transactions["data"]}
    assert set(ledger) == {line["balance_transaction_id"] for line in lines}
    for line in lines:
        entry = ledger[line["balance_transaction_id"]]
        assert (entry["type"], entry["amount"], entry["fee"], entry["net"], entry["source"]) == (
            line["type"], line["amount"], line["fee"], line["net"], line["source"],
        )  # fmt: skip
    net = int(settlement["net"])
    assert net == sum(int(t["net"]) for t in ledger.values())

    # The balance API agrees: everything of the day is available, nothing pending.
    balance = (await rest.get("/v1/balance")).json()
    assert balance["available"] == [{"amount": str(net), "currency": "USD"}]
    assert balance["pending"] == [{"amount": "0", "currency": "USD"}]

    # --- payouts: a manual one, never more than available, then the automatic one ---
    too_much = await rest.post(
        "/v1/payouts", json={"amount": net + 1, "currency": "usd"}, headers=key()
    )
    assert too_much.status_code == 400
    assert error_reason(too_much) == "BALANCE_INSUFFICIENT"
    manual = await rest.post("/v1/payouts", json={"amount": 5000, "currency": "usd"}, headers=key())
    assert manual.status_code == 200, manual.text
    assert (manual.json()["status"], manual.json()["method"]) == ("IN_TRANSIT", "MANUAL")
    code, said = paygate(gateway, "payouts", "run")
    assert code == 0, said
    payouts = (await rest.get("/v1/payouts")).json()["data"]
    assert [(p["method"], p["amount"]) for p in payouts] == [
        ("AUTOMATIC", str(net - 5000)),
        ("MANUAL", "5000"),
    ]
    assert payouts[0]["settlement"] == settlement["id"]
    balance = (await rest.get("/v1/balance")).json()
    assert balance["available"] == [{"amount": "0", "currency": "USD"}]
    paid_out = (await rest.get("/v1/balance_transactions", params={"type": "PAYOUT"})).json()[
        "data"
    ]
    assert sorted(int(t["net"]) for t in paid_out) == sorted([-5000, -(net - 5000)])

    # --- the network decides the dispute (evidence: WON) once its review is over ----
    # The worker would run this after decide_at; the test cannot wait two days.
    disputes = Disputes(uow, RandomIds(), SystemClock(), SimulatedDisputeDecisions())
    (won,) = [
        d
        for d in await disputes.resolve_due_disputes(datetime.now(UTC) + timedelta(days=2))
        if d.merchant_id == merchant.id
    ]
    got = (await rest.get(f"/v1/disputes/{dispute.id}")).json()
    assert got["status"] == "WON"
    assert len(got["balance_transactions"]) == 2
    balance = (await rest.get("/v1/balance")).json()
    assert balance["available"] == [{"amount": "3000", "currency": "USD"}]  # the amount is back
    assert won.closed_at is not None
