"""The acquirer's daily settlement file: what the (simulated) card network says it moved.

A real acquirer delivers one file per day (SFTP, a reporting API); the simulator writes it
from its books. Format (UTF-8 CSV, RFC 4180, one line per completed capture or refund):

    type,reference,attempt_reference,merchant_id,amount,currency,acquirer_reference,settled_at
    CAPTURE,cap_01...,pa_01...,acct_01...,1000,EUR,simnet_cap_3f...,2026-03-03T10:00:00.123456Z

- `type`: CAPTURE or REFUND; `reference`: the capture reference / refund id we sent;
- `amount`: integer minor units of `currency` (ISO 4217), positive;
- `settled_at`: RFC 3339 UTC; a file holds the operations of one UTC day.

`paygate reconcile` downloads each acquirer's records of a day into a file of its own,
`settlement-YYYY-MM-DD.<acquirer>.csv` (the name routes and attempts give the acquirer),
so the report can tell each line's acquirer (`read_day(..., acquirers=...)`).

Several processes each run their own simulator (one per API process), so
`SettlementJournal` appends each process's operations to its own file per day
(`settlement-YYYY-MM-DD.<pid>.csv`) and `read_day` merges the day's files.
`paygate reconcile` reads them (core/ledger/reconciliation.py).
"""

from __future__ import annotations

import csv
import io
import os
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from core.ledger.reconciliation import AcquirerLine, LineKind, MalformedLine
from core.payments.acquirer import OperationKind
from core.shared.money import CURRENCY_EXPONENTS, MAX_AMOUNT, Money

__all__ = [
    "COLUMNS",
    "SettlementJournal",
    "SettlementRecord",
    "acquirer_of",
    "day_files",
    "file_name",
    "parse",
    "read_day",
    "render",
    "write_day",
]


@dataclass(frozen=True)
class SettlementRecord:
    """One line of the acquirer's settlement file: money it moved on a given day."""

    reference: str  # our capture or refund reference
    kind: OperationKind  # CAPTURE or REFUND
    amount: Money
    booked_at: datetime  # UTC
    attempt_reference: str
    merchant_id: str
    acquirer_reference: str


COLUMNS = (
    "type",
    "reference",
    "attempt_reference",
    "merchant_id",
    "amount",
    "currency",
    "acquirer_reference",
    "settled_at",
)


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _row(operation: SettlementRecord) -> list[str]:
    return [
        operation.kind.value,
        operation.reference,
        operation.attempt_reference,
        operation.merchant_id,
        str(operation.amount.amount),
        operation.amount.currency,
        operation.acquirer_reference,
        _time(operation.booked_at),
    ]


def _settled_on(operation: SettlementRecord, day: date) -> bool:
    return operation.booked_at.astimezone(UTC).date() == day


def render(operations: Iterable[SettlementRecord], day: date) -> str:
    """The file of `day`: the operations settled on that UTC day, in order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for operation in operations:
        if _settled_on(operation, day):
            writer.writerow(_row(operation))
    return out.getvalue()


def file_name(day: date, suffix: str = "") -> str:
    return f"settlement-{day.isoformat()}{'.' + suffix if suffix else ''}.csv"


def write_day(
    directory: Path, operations: Iterable[SettlementRecord], day: date, acquirer: str = ""
) -> Path:
    """Writes the day's file (one acquirer's, when named), replacing it atomically, and
    returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / file_name(day, acquirer)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(render(operations, day), encoding="utf-8", newline="")
    tmp.replace(path)
    return path


class SettlementJournal:
    """An `on_settled` callback for a simulator: appends each operation to this process's
    file of its day, so a gateway of several processes leaves one file per process."""

    def __init__(self, directory: Path, *, process: str | None = None) -> None:
        self.directory = directory
        self._process = process or str(os.getpid())
        self._lock = threading.Lock()

    def __call__(self, operation: SettlementRecord) -> None:
        day = operation.booked_at.astimezone(UTC).date()
        path = self.directory / file_name(day, self._process)
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            fresh = not path.exists()
            with path.open("a", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, lineterminator="\r\n")
                if fresh:
                    writer.writerow(COLUMNS)
                writer.writerow(_row(operation))


def _line(fields: list[str], number: int, day: date | None, acquirer: str) -> AcquirerLine:
    if len(fields) != len(COLUMNS):
        raise ValueError(f"expected {len(COLUMNS)} fields, found {len(fields)}")
    kind, reference, _attempt, merchant_id, amount, currency, _acquirer, settled = fields
    try:
        line_kind = LineKind(kind)
    except ValueError:
        raise ValueError(f"type {kind[:20]!r} is not CAPTURE or REFUND") from None
    if not reference:
        raise ValueError("reference is empty")
    if not merchant_id:
        raise ValueError("merchant_id is empty")
    if not amount.isdigit() or not 0 < int(amount) <= MAX_AMOUNT:
        raise ValueError(f"amount {amount[:20]!r} is not a positive integer of minor units")
    if currency not in CURRENCY_EXPONENTS:
        raise ValueError(f"currency {currency[:8]!r} is not an ISO 4217 code we know")
    try:
        settled_at = datetime.fromisoformat(settled)
    except ValueError:
        raise ValueError(f"settled_at {settled[:40]!r} is not an RFC 3339 time") from None
    if settled_at.tzinfo is None:
        raise ValueError("settled_at has no offset")
    if day is not None and settled_at.astimezone(UTC).date() != day:
        raise ValueError(f"settled_at {settled} is not on {day.isoformat()}")
    return AcquirerLine(
        kind=line_kind,
        reference=reference,
        merchant_id=merchant_id,
        amount=Money(int(amount), currency),
        settled_at=settled_at,
        line=number,
        acquirer=acquirer,
    )


def parse(
    text: str, *, day: date | None = None, name: str = "", acquirer: str = ""
) -> tuple[list[AcquirerLine], list[MalformedLine]]:
    """The readable lines and, for every other one, what is wrong with it (a wrong header
    makes the whole file unreadable). With `day`, a line of another day is malformed.
    `acquirer`: whose records the file holds, given to every line."""
    where = f"{name}: " if name else ""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(rows[0]) != COLUMNS:
        header = f"{where}the header is not {','.join(COLUMNS)}"
        return [], [MalformedLine(1, header, acquirer)]
    lines: list[AcquirerLine] = []
    malformed: list[MalformedLine] = []
    for number, fields in enumerate(rows[1:], start=2):
        if not fields:
            continue
        try:
            lines.append(_line(fields, number, day, acquirer))
        except ValueError as problem:
            malformed.append(MalformedLine(number, f"{where}{problem}", acquirer))
    return lines, malformed


def acquirer_of(path: Path, day: date, acquirers: Collection[str]) -> str:
    """The acquirer whose file `path` is (`settlement-D.<acquirer>.csv`), if one of
    `acquirers`; else empty (a combined file, or a process's journal)."""
    suffix = path.name.removeprefix(f"settlement-{day.isoformat()}.").removesuffix(".csv")
    return suffix if suffix in acquirers else ""


def read_day(
    paths: Sequence[Path], day: date, *, acquirers: Collection[str] = ()
) -> tuple[list[AcquirerLine], list[MalformedLine]]:
    """Merges the files of one day; a file named for one of `acquirers` is its."""
    lines: list[AcquirerLine] = []
    malformed: list[MalformedLine] = []
    for path in paths:
        found, bad = parse(
            path.read_text(encoding="utf-8"),
            day=day,
            name=path.name,
            acquirer=acquirer_of(path, day, acquirers),
        )
        lines.extend(found)
        malformed.extend(bad)
    return lines, malformed


def day_files(directory: Path, day: date) -> list[Path]:
    """The files of `day` in `directory`: the simulator's and each process's journal."""
    return sorted(directory.glob(f"settlement-{day.isoformat()}*.csv"))
