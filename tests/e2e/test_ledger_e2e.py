"""A day of traffic through the real gateway: settlement, its report, payouts, a dispute,
and `paygate reconcile`, all on the gateway's PostgreSQL, read through Envoy.

TODO(merge): the payments branch brings confirm/capture/refund. Until then the traffic is
posted by tests/ledger_traffic.PaymentsStandIn: it calls the card network simulator and
then, in one transaction, moves the payment intent and posts through core.ledger.hooks,
exactly as the payment use-cases will. After the merge, switch (marked `STAND-IN` below):
  1. charges: POST /v1/payment_intents + /confirm (+ /capture) instead of payments.charge;
  2. refunds: POST /v1/refunds instead of payments.refund;
  3. the dispute feed: the worker role ingests it instead of this test's Disputes.ingest;
  4. the acquirer's file: the API processes' simulators journal it (SettlementJournal into
     <data_dir>/acquirer) instead of settlement_file.write_day from this test's simulator.
Everything after the traffic (settle, report, balance, payouts, evidence, reconcile) is
already the real thing: `paygate` subprocesses and REST calls through Envoy.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.acquirers import settlement_file
from adapters.acquirers.dispute_decisions import SimulatedDisputeDecisions
from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.access.use_cases import ApiKeys
from core.ledger.disputes import Disputes
from servers.launcher import Gateway
from tests.ledger_traffic import DISPUTED, PaymentsStandIn, SettableClock

ROOT = Path(__file__).resolve().parents[2]
# Three days ago: the day's captures are due (T+2) by the settlement of yesterday, and the
# dispute opened that day still takes evidence (due 7 days after it opened).
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)


def paygate(gateway: Gateway, *args: str) -> tuple[int, list[dict[str, Any]]]:
    """Runs `paygate ARGS` as an operator would, on the gateway's database and data dir."""
    env = {
        **os.environ,
        "DATABASE_URL": gateway.database_url,
        "PAYGATE_DATA_DIR": str(gateway.data_dir),
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


@pytest.fixture
async def uow(gateway: Gateway) -> AsyncIterator[SqlUnitOfWorkFactory]:
    engine = create_engine(gateway.database_url, pool_size=2)
    yield SqlUnitOfWorkFactory(engine)
    await engine.dispose()


@pytest.fixture
async def merchant(gateway: Gateway, uow: SqlUnitOfWorkFactory) -> AsyncIterator[Merchant]:
    """A merchant of this test's own (the seeded one is shared with other e2e tests)."""
    seeded = await ApiKeys(uow, RandomIds(), SettableClock(DAY)).seed_merchant("Ledger e2e")
    headers = {"Authorization": f"Bearer {seeded.secret_key.plaintext}"}
    async with httpx.AsyncClient(base_url=gateway.rest_url, headers=headers) as rest:
        yield Merchant(seeded.merchant.id, rest)


def error_reason(response: httpx.Response) -> str:
    infos = [d for d in response.json()["details"] if d["@type"].endswith("ErrorInfo")]
    return str(infos[0]["reason"])


async def test_a_day_of_traffic_settles_pays_out_and_reconciles(
    gateway: Gateway, uow: SqlUnitOfWorkFactory, merchant: Merchant, tmp_path: Path
) -> None:
    rest, ids = merchant.rest, RandomIds()

    # --- rates for the day, loaded as an operator does --------------------------------
    rates = tmp_path / "rates.csv"
    as_of = DAY.isoformat().replace("+00:00", "Z")
    rates.write_text(
        f"base,quote,rate,as_of,source\nEUR,USD,1.0869,{as_of},ecb\nUSD,JPY,151.37,{as_of},ecb\n"
    )
    code, said = paygate(gateway, "fx", "load", str(rates))
    assert code == 0, said
    assert said[-1]["msg"] == "fx rates loaded"

    # --- the day's traffic (STAND-IN for the payments API, see the module docstring) ---
    payments = PaymentsStandIn(uow, ids, DAY)
    hour = timedelta(hours=1)
    usd = await payments.charge(merchant.id, 12_000, "USD", at=DAY + 9 * hour)
    eur = await payments.charge(merchant.id, 5000, "EUR", at=DAY + 10 * hour)
    await payments.charge(merchant.id, 8000, "JPY", at=DAY + 11 * hour)
    disputed = await payments.charge(merchant.id, 3000, "USD", at=DAY + 12 * hour, card=DISPUTED)
    await payments.refund(usd, 2000, at=DAY + 13 * hour)
    await payments.refund(eur, 1500, at=DAY + 14 * hour)
    disputes = Disputes(uow, ids, SettableClock(DAY), SimulatedDisputeDecisions())
    (dispute,) = (await disputes.ingest(payments.acquirer)).opened
    assert dispute.payment_intent_id == disputed.payment_intent_id
    acquirer_dir = gateway.data_dir / "acquirer"
    settlement_file.write_day(acquirer_dir, payments.acquirer.settlement, DAY.date())

    # --- the dispute, answered through the API ----------------------------------------
    listed = (await rest.get("/v1/disputes")).json()
    assert [(d["id"], d["status"], d["amount"]) for d in listed["data"]] == [
        (dispute.id, "NEEDS_RESPONSE", "3000")
    ]
    answered = await rest.post(
        f"/v1/disputes/{dispute.id}/evidence",
        json={"receipt": "INV-2291", "product_description": "Walnut desk"},
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "UNDER_REVIEW"
    assert answered.json()["evidence"]["receipt"] == "INV-2291"

    # --- reconciliation of the day: nothing to report ---------------------------------
    code, said = paygate(gateway, "reconcile", "--date", DAY.date().isoformat())
    assert code == 0, said
    summary = said[-1]
    assert (summary["msg"], summary["differences"]) == ("reconciled", 0)
    assert (summary["ledger_movements"], summary["acquirer_lines"]) == (6, 6)
    assert summary["payments_checked"] == 4
    assert summary["ledger_totals"] == {"USD": 13_000, "EUR": 3500, "JPY": 8000}

    # ...and a corrupted line of the acquirer's file is reported.
    day_file = acquirer_dir / settlement_file.file_name(DAY.date())
    rows = day_file.read_bytes().decode().split("\r\n")
    rows[2] = rows[2].replace(",5000,EUR,", ",5001,EUR,")
    corrupted = tmp_path / "corrupted.csv"
    corrupted.write_text("\r\n".join(rows))
    code, said = paygate(
        gateway, "reconcile", "--date", DAY.date().isoformat(), "--acquirer-file", str(corrupted)
    )
    assert code == 1
    differences = [line for line in said if line["msg"] == "difference"]
    assert [(d["kind"], d["line"], d["reference"]) for d in differences] == [
        ("AMOUNT_MISMATCH", 3, eur.capture_reference)
    ]

    # --- settlement of the day the captures came due (T+2) ----------------------------
    due_day = (DAY + timedelta(days=2)).date()
    code, said = paygate(gateway, "settle", "--date", due_day.isoformat())
    assert code == 0, said
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
    too_much = await rest.post("/v1/payouts", json={"amount": net + 1, "currency": "usd"})
    assert too_much.status_code == 400
    assert error_reason(too_much) == "BALANCE_INSUFFICIENT"
    manual = await rest.post("/v1/payouts", json={"amount": 5000, "currency": "usd"})
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
    # STAND-IN clock: the worker would run this after decide_at; the test cannot wait a day.
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
