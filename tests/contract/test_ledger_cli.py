"""The ledger's operator commands against PostgreSQL: fx load, settle, reconcile.

Reconciliation covers every merchant of a day, so this test uses a day no other test
posts on. The e2e test runs the same commands as `paygate` subprocesses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from paygate.internal.v1 import acquirer_pb2 as pb

from adapters.acquirers import settlement_file
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.ledger.model import MerchantTerms
from sandbox.acquirer import UpiSimulator
from servers.cli import ledger as ledger_cli
from servers.roles import acquirer as acquirer_server
from tests.contract.helpers import add_merchant
from tests.contract.ledger_helpers import set_terms
from tests.ledger_traffic import PaymentsStandIn

DAY = datetime(2025, 6, 10, tzinfo=UTC)  # only this test posts on this day
RATES = """\
# paygate FX rates: major units of quote per one major unit of base
base,quote,rate,as_of,source
EUR,USD,1.0869,2025-06-10T00:00:00Z,ecb
USD,JPY,151.37,2025-06-10T00:00:00Z,ecb
"""


class Said:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, level: str, msg: str, **fields: Any) -> None:
        self.lines.append((level, msg, fields))

    def messages(self, msg: str) -> list[dict[str, Any]]:
        return [fields for _, m, fields in self.lines if m == msg]


async def test_fx_load_settle_and_reconcile(
    uow_factory: SqlUnitOfWorkFactory, database_url: str, ids: RandomIds, tmp_path: Path
) -> None:
    rates = tmp_path / "rates.csv"
    rates.write_text(RATES)
    said = Said()
    assert await ledger_cli.fx_load(database_url, rates, said) == ledger_cli.OK
    assert said.messages("fx rates loaded")[0]["rates"] == 2
    assert await ledger_cli.fx_load(database_url, rates, said) == ledger_cli.OK  # again: no-op
    assert said.messages("fx rates loaded")[1]["new"] == 0
    broken = tmp_path / "broken.csv"
    broken.write_text(RATES.replace("1.0869", "1,0869"))
    assert await ledger_cli.fx_load(database_url, broken, said) == ledger_cli.BAD_INPUT
    changed = tmp_path / "changed.csv"
    changed.write_text(RATES.replace("1.0869", "1.2"))
    assert await ledger_cli.fx_load(database_url, changed, said) == ledger_cli.BAD_INPUT
    assert said.lines[-1][2]["reason"] == "FX_RATE_CONFLICT"

    merchant = await add_merchant(uow_factory, ids)
    await set_terms(uow_factory, merchant, MerchantTerms())
    payments = PaymentsStandIn(uow_factory, ids, DAY)
    usd = await payments.charge(merchant, 5000, "USD", at=DAY + timedelta(hours=8))
    await payments.charge(merchant, 2000, "EUR", at=DAY + timedelta(hours=9))
    await payments.charge(merchant, 1200, "JPY", at=DAY + timedelta(hours=10))
    await payments.refund(usd, 1500, at=DAY + timedelta(hours=11))

    # The acquirer's file for the day, as the simulator writes it.
    acquirer = tmp_path / "acquirer"
    settlement_file.write_day(acquirer, payments.acquirer.settlement, DAY.date())
    clean = Said()
    code = await ledger_cli.run_reconcile(
        database_url, DAY.date(), clean, files=[], directory=acquirer
    )
    assert clean.messages("difference") == []
    assert code == ledger_cli.OK
    (summary,) = clean.messages("reconciled")
    assert (summary["ledger_movements"], summary["acquirer_lines"]) == (4, 4)
    assert summary["ledger_totals"] == {"USD": 3500, "EUR": 2000, "JPY": 1200}

    # One corrupted line: reported, and the command fails.
    path = acquirer / settlement_file.file_name(DAY.date())
    rows = path.read_bytes().decode().split("\r\n")
    rows[3] = rows[3].replace(",1200,JPY,", ",1300,JPY,")
    corrupted = tmp_path / "corrupted.csv"
    corrupted.write_text("\r\n".join(rows))
    dirty = Said()
    code = await ledger_cli.run_reconcile(
        database_url, DAY.date(), dirty, files=[corrupted], directory=acquirer
    )
    assert code == ledger_cli.DIFFERENCES
    (difference,) = dirty.messages("difference")
    assert (difference["kind"], difference["line"]) == ("AMOUNT_MISMATCH", 4)
    assert "ledger 1200 JPY, acquirer 1300 JPY" in difference["detail"]

    # With an acquirer role, reconcile downloads its records (card network + UPI switch)
    # over gRPC into the directory, one file per acquirer, then reads exactly those: the
    # same clean result, broken down per acquirer.
    roles = {pb.ACQUIRER_CARD_NETWORK: payments.acquirer, pb.ACQUIRER_UPI_SWITCH: UpiSimulator()}
    server, health, port = await acquirer_server.start(roles, "127.0.0.1:0", service_token="t0k")
    downloaded = tmp_path / "downloaded"
    try:
        fetched = Said()
        role = ledger_cli.AcquirerRole(f"127.0.0.1:{port}", "t0k")
        code = await ledger_cli.run_reconcile(
            database_url, DAY.date(), fetched, files=[], directory=downloaded, acquirer=role
        )
    finally:
        await acquirer_server.stop(server, health)
    assert (code, fetched.messages("difference")) == (ledger_cli.OK, [])
    (summary,) = fetched.messages("reconciled")
    assert (summary["ledger_movements"], summary["acquirer_lines"]) == (4, 4)
    day_file = downloaded / settlement_file.file_name(DAY.date(), "card_network_simulator")
    upi_file = downloaded / settlement_file.file_name(DAY.date(), "upi_simulator")
    assert summary["files"] == [str(day_file), str(upi_file)]
    assert day_file.read_bytes() == path.read_bytes()  # what the simulator's file says
    parts = [(a["acquirer"], a["matched"], a["acquirer_lines"], a["differences"])
             for a in summary["acquirers"]]  # fmt: skip
    assert parts == [("card_network_simulator", 4, 4, 0), ("upi_simulator", 0, 0, 0)]
    assert [line["acquirer"] for line in fetched.messages("acquirer reconciled")] == [
        a["acquirer"] for a in summary["acquirers"]
    ]
    # Nobody listening there any more: unusable input, exit 2.
    gone = Said()
    code = await ledger_cli.run_reconcile(
        database_url, DAY.date(), gone, files=[], directory=downloaded, acquirer=role
    )
    assert code == ledger_cli.BAD_INPUT
    assert gone.lines[-1][1] == "the acquirer's settlement records cannot be fetched"

    nothing = Said()
    code = await ledger_cli.run_reconcile(
        database_url, (DAY + timedelta(days=1)).date(), nothing, files=[], directory=acquirer
    )
    assert code == ledger_cli.BAD_INPUT

    settled = Said()
    assert await ledger_cli.settle(database_url, (DAY + timedelta(days=2)).date(), settled) == 0
    mine = [s for s in settled.messages("settlement completed") if s["merchant"] == merchant]
    # 5000-175 + (2174-84) + (1200*... in USD) - 1500: the lines' nets, whatever the rates.
    assert [(s["transactions"], s["currency"]) for s in mine] == [(4, "USD")]
    assert mine[0]["net"] == mine[0]["released"]
    assert settled.messages("settled")[0]["checkpoints"] >= 0
