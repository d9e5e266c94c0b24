"""The ledger's operator commands (wired into `paygate` by servers/cli/main.py).

    paygate fx load FILE                 store the rates of a rates file (docs/ledger.md)
    paygate settle --date D              settle day D, then checkpoint balances
    paygate payouts run                  automatic payouts after completed settlements
    paygate disputes resolve             close the disputes whose decision time has come
    paygate reconcile --date D [--acquirer-file F]... [--acquirer-dir DIR]
                                         ledger vs payments vs the acquirer's file of D
                                         (with PAYGATE_ACQUIRER_TARGET set and no
                                         --acquirer-file: first downloaded from the
                                         acquirer role into --acquirer-dir)

Each prints JSON lines (like every paygate log line) and exits 0 on success. `reconcile`
prints one line per difference and exits 1 when there is any; every command exits 2 on
bad input (an unreadable file, no acquirer file for the day). The batches are the same
use-cases the worker role runs (several runs at once share the work).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from adapters.acquirers import settlement_file
from adapters.acquirers.kora_client import KoraConnector
from adapters.acquirers.netbanking_client import NetBankingConnector
from adapters.acquirers.orbit_client import OrbitConnector
from adapters.acquirers.settlement_file import SettlementRecord
from adapters.acquirers.wallet_client import WalletConnector
from adapters.sql.ledger.journal import take_checkpoints
from adapters.sql.ledger.reconciliation import SqlReconciliationSource
from adapters.system import RandomIds, SystemClock
from core.ledger.disputes import Disputes
from core.ledger.fx import parse_rates_csv
from core.ledger.payouts import Payouts
from core.ledger.reconciliation import reconcile
from core.ledger.settlement import SettlementBatch
from core.payments.acquirer import AcquirerUnavailable
from core.shared.errors import PaygateError
from sandbox.acquirer.dispute_decisions import SimulatedDisputeDecisions
from servers.bootstrap.acquirers import HttpConnector, acquirer_clients
from servers.bootstrap.database import database
from servers.bootstrap.routing import KORA, NETBANKING, ORBIT, WALLET
from servers.cli.progress import Steps

Say = Callable[..., None]

# Exit codes.
OK, DIFFERENCES, BAD_INPUT = 0, 1, 2


def acquirer_dir(data_dir: Path) -> Path:
    """Where the simulators' settlement files go (SettlementJournal) by default."""
    return Path(data_dir) / "acquirer"


async def fx_load(database_url: str, path: Path, say: Say) -> int:
    try:
        rates = parse_rates_csv(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        say("error", "the rates file cannot be read", file=str(path), problem=str(error))
        return BAD_INPUT
    try:
        async with database(database_url, pool_size=1) as db, db.uow() as uow:
            added = await uow.fx_rates.add(rates)
            await uow.commit()
    except PaygateError as error:
        say("error", "rates not loaded", file=str(path), reason=error.reason, problem=error.message)
        return BAD_INPUT
    pairs = sorted({f"{r.base}{r.quote}" for r in rates})
    say("info", "fx rates loaded", file=str(path), rates=len(rates), new=added, pairs=pairs)
    return OK


async def settle(database_url: str, day: date, say: Say) -> int:
    with Steps(f"settle {day}", ["settling", "checkpointing balances"]) as steps:
        return await _settle(database_url, day, say, steps)


async def _settle(database_url: str, day: date, say: Say, steps: Steps) -> int:
    async with database(database_url) as db:
        batch = SettlementBatch(db.uow, RandomIds())
        steps.step("settling")
        try:
            completed = await batch.run_settlement(day, datetime.now(UTC))
        except PaygateError as error:
            say("error", "not settled", day=day.isoformat(), problem=error.message)
            return BAD_INPUT
        for s in completed:
            say(
                "info",
                "settlement completed",
                settlement=s.id,
                merchant=s.merchant_id,
                currency=s.currency,
                transactions=s.totals.count,
                net=s.totals.net,
                released=s.released,
            )
        steps.step("checkpointing balances")
        async with db.engine.connect() as connection:
            checkpoints = await take_checkpoints(connection)
            await connection.commit()
    say("info", "settled", day=day.isoformat(), settlements=len(completed), checkpoints=checkpoints)
    return OK


async def run_payouts(database_url: str, say: Say) -> int:
    async with database(database_url) as db:
        ids, clock = RandomIds(), SystemClock()
        paid = await Payouts(db.uow, ids, clock).run_automatic_payouts(clock.now())
    for p in paid:
        say("info", "payout sent", payout=p.id, merchant=p.merchant_id, amount=p.amount,
            currency=p.currency, settlement=p.settlement_id)  # fmt: skip
    say("info", "automatic payouts done", payouts=len(paid))
    return OK


async def resolve_disputes(database_url: str, say: Say) -> int:
    async with database(database_url) as db:
        ids, clock = RandomIds(), SystemClock()
        disputes = Disputes(db.uow, ids, clock, SimulatedDisputeDecisions())
        closed = await disputes.resolve_due_disputes(clock.now())
    for d in closed:
        say("info", "dispute closed", dispute=d.id, merchant=d.merchant_id, status=d.status.value)
    say("info", "disputes resolved", closed=len(closed))
    return OK


@dataclass(frozen=True)
class AcquirerRole:
    """Where the acquirer role listens (PAYGATE_ACQUIRER_TARGET) and how to call it."""

    target: str
    service_token: str = ""
    timeout_seconds: float = 10.0
    # The JSON PSPs, when configured: their settlement files join the day's records.
    orbit_url: str = ""
    kora_url: str = ""
    wallet_url: str = ""
    netbanking_url: str = ""

    def http_books(self) -> dict[str, HttpConnector]:
        """The HTTP acquirers configured, by the name attempts give them."""
        timeout = self.timeout_seconds
        books: dict[str, HttpConnector] = {}
        if self.orbit_url:
            books[ORBIT] = OrbitConnector(self.orbit_url, timeout_seconds=timeout)
        if self.kora_url:
            books[KORA] = KoraConnector(self.kora_url, timeout_seconds=timeout)
        if self.wallet_url:
            books[WALLET] = WalletConnector(self.wallet_url, timeout_seconds=timeout)
        if self.netbanking_url:
            books[NETBANKING] = NetBankingConnector(self.netbanking_url, timeout_seconds=timeout)
        return books


async def download_settlement_files(
    acquirer: AcquirerRole, directory: Path, days: Sequence[date]
) -> list[Path]:
    """The acquirers' settlement records of each day (the card network's and the UPI
    switch's, and the JSON PSPs' when configured), written as that day's file in `directory`
    (`settlement-D.csv`, replaced): what a real acquirer delivers by SFTP, kept as the
    record of what was reconciled."""
    clients = acquirer_clients(
        acquirer.target,
        service_token=acquirer.service_token,
        timeout_seconds=acquirer.timeout_seconds,
    )
    books: list[SettlementBooks] = [clients.card_network, clients.upi_switch]
    psps = list(acquirer.http_books().values())
    books.extend(psps)
    try:
        paths = []
        for day in days:
            records = [record for book in books for record in await book.settlement_records(day)]
            paths.append(
                await asyncio.to_thread(settlement_file.write_day, directory, records, day)
            )
        return paths
    finally:
        await clients.aclose()
        for psp in psps:
            await psp.aclose()


class SettlementBooks(Protocol):
    async def settlement_records(self, day: date) -> Sequence[SettlementRecord]: ...


RECONCILE_STEPS = ("fetching the acquirer's records", "reading the settlement files",
                   "comparing ledger, payments and acquirer")  # fmt: skip


async def run_reconcile(
    database_url: str,
    day: date,
    say: Say,
    *,
    files: list[Path],
    directory: Path,
    acquirer: AcquirerRole | None = None,
) -> int:
    with Steps(f"reconcile {day}", RECONCILE_STEPS) as steps:
        return await _reconcile(database_url, day, say, steps, files, directory, acquirer)


async def _reconcile(
    database_url: str,
    day: date,
    say: Say,
    steps: Steps,
    files: list[Path],
    directory: Path,
    acquirer: AcquirerRole | None,
) -> int:
    previous: list[Path] = []
    steps.step(RECONCILE_STEPS[0])
    if not files and acquirer is not None:
        try:
            files, previous = [
                [path]
                for path in await download_settlement_files(
                    acquirer, directory, [day, day - timedelta(days=1)]
                )
            ]
        except (AcquirerUnavailable, OSError) as error:
            say("error", "the acquirer's settlement records cannot be fetched",
                target=acquirer.target, problem=str(error))  # fmt: skip
            return BAD_INPUT
    elif not files:
        files = settlement_file.day_files(directory, day)
        previous = settlement_file.day_files(directory, day - timedelta(days=1))
    if not files:
        say("error", "no acquirer settlement file for the day", day=day.isoformat(),
            directory=str(directory))  # fmt: skip
        return BAD_INPUT
    steps.step(RECONCILE_STEPS[1])
    try:
        lines, malformed = await asyncio.to_thread(settlement_file.read_day, files, day)
        previous_lines, _ = await asyncio.to_thread(
            settlement_file.read_day, previous, day - timedelta(days=1)
        )
    except (OSError, UnicodeDecodeError) as error:
        say("error", "the acquirer file cannot be read", problem=str(error))
        return BAD_INPUT
    steps.step(RECONCILE_STEPS[2])
    async with database(database_url, pool_size=1) as db, db.engine.connect() as connection:
        # One snapshot for the ledger and the payments; nothing is written.
        conn = await connection.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        report = await reconcile(
            SqlReconciliationSource(conn),
            day,
            lines,
            malformed=malformed,
            previous_lines=previous_lines,
        )
        await conn.rollback()
    for difference in report.differences:
        say("warning", "difference", **difference.as_dict())
    summary: dict[str, Any] = {
        "day": day.isoformat(),
        "differences": len(report.differences),
        "ledger_movements": report.ledger_movements,
        "acquirer_lines": report.acquirer_lines,
        "payments_checked": report.payments_checked,
        "ledger_totals": report.ledger_totals,
        "acquirer_totals": report.acquirer_totals,
        "files": [str(f) for f in files],
    }
    say("info" if report.clean else "error", "reconciled", **summary)
    return OK if report.clean else DIFFERENCES
