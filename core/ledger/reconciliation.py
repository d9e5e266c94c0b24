"""Reconciliation of one day: the ledger against the payments and the acquirer's file.

`paygate reconcile --date D` reads three records of day D (UTC) and reports every
difference; a healthy system has none:

- ledger <-> acquirer settlement file: each CAPTURE entry (by its capture reference) and
  each REFUND entry that did not fail (by its refund id) of D has one line of the same
  kind, amount, currency and merchant in the acquirer's file of D, and each line has its
  entry. An entry of D whose line is in the previous day's file, or a line of D whose
  entry was posted the day before or after (a capture that straddles midnight: the
  acquirer acts first, the ledger posts right after), is matched, not a difference.
- ledger <-> payments: for every payment with an entry on D or that SUCCEEDED on D, the
  payment's amount_received equals its captures in the ledger and its amount_refunded
  its refunds that did not fail; a payment that SUCCEEDED with money received has a
  CAPTURE entry.
- the ledger itself: the postings of D's entries sum to zero in every currency.

The file's lines that cannot be read are differences too (MALFORMED_LINE), as are lines
listed twice (DUPLICATE_LINE). Disputes are not in the simulator's file (docs/ledger.md).

Per acquirer: every line carries the acquirer whose records it came from, and every
ledger movement and payment the acquirer that holds its payment (the latest attempt's);
each difference is told to that acquirer (UNBALANCED_DAY, the ledger's own, to none),
and the report sums matched movements and differences per acquirer
(`ReconciliationReport.acquirers`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from core.ledger.model import EntryKind, JournalEntry, totals_by_currency
from core.ledger.records import midnight
from core.shared.money import Money

__all__ = [
    "AcquirerLine",
    "AcquirerSummary",
    "Difference",
    "DifferenceKind",
    "LineKind",
    "MalformedLine",
    "PaymentRecord",
    "ReconciliationReport",
    "ReconciliationSource",
    "compare",
    "reconcile",
]


class LineKind(StrEnum):
    CAPTURE = "CAPTURE"
    REFUND = "REFUND"


@dataclass(frozen=True)
class AcquirerLine:
    """One money movement in the acquirer's settlement file."""

    kind: LineKind
    reference: str  # our capture reference / refund id, as sent to the acquirer
    merchant_id: str
    amount: Money
    settled_at: datetime
    line: int = 0  # line number in the file, for the report
    acquirer: str = ""  # whose settlement records it came from; empty: not known


@dataclass(frozen=True)
class MalformedLine:
    line: int
    problem: str
    acquirer: str = ""


@dataclass(frozen=True)
class PaymentRecord:
    """What the payments context says about one payment."""

    merchant_id: str
    payment_intent_id: str
    currency: str
    amount_received: int
    amount_refunded: int
    acquirer: str = ""  # the acquirer of its latest attempt: the one that holds its money


class DifferenceKind(StrEnum):
    MALFORMED_LINE = "MALFORMED_LINE"  # the acquirer's file has a line we cannot read
    DUPLICATE_LINE = "DUPLICATE_LINE"  # the same movement twice in the file
    MISSING_IN_LEDGER = "MISSING_IN_LEDGER"  # the acquirer moved money the ledger lacks
    MISSING_AT_ACQUIRER = "MISSING_AT_ACQUIRER"  # the ledger has money the acquirer did not move
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"  # both have it, with another amount or currency
    MERCHANT_MISMATCH = "MERCHANT_MISMATCH"  # both have it, for another merchant
    PAYMENT_MISSING = "PAYMENT_MISSING"  # a ledger entry names a payment that does not exist
    CAPTURE_NOT_POSTED = "CAPTURE_NOT_POSTED"  # a payment succeeded, the ledger has no capture
    RECEIVED_MISMATCH = "RECEIVED_MISMATCH"  # amount_received != captures in the ledger
    REFUNDED_MISMATCH = "REFUNDED_MISMATCH"  # amount_refunded != refunds in the ledger
    UNBALANCED_DAY = "UNBALANCED_DAY"  # the day's postings do not sum to zero


@dataclass(frozen=True)
class Difference:
    kind: DifferenceKind
    detail: str
    reference: str = ""
    merchant_id: str = ""
    payment_intent_id: str = ""
    line: int = 0
    acquirer: str = ""  # whose books it concerns; empty: the ledger's own

    def as_dict(self) -> dict[str, str | int]:
        found = {
            "kind": self.kind.value,
            "acquirer": self.acquirer,
            "reference": self.reference,
            "merchant_id": self.merchant_id,
            "payment_intent_id": self.payment_intent_id,
            "line": self.line,
            "detail": self.detail,
        }
        return {k: v for k, v in found.items() if v not in ("", 0)}


# Where a line from a file of no known acquirer, or a movement of a payment the payments
# records lack, is counted.
UNKNOWN_ACQUIRER = "(unknown)"


@dataclass
class AcquirerSummary:
    """One acquirer's part of the day."""

    acquirer: str
    ledger_movements: int = 0  # the ledger's captures and refunds of its payments
    acquirer_lines: int = 0  # the lines of its settlement records
    matched: int = 0  # movements found on both sides
    differences: int = 0
    ledger_totals: dict[str, int] = field(default_factory=dict)
    acquirer_totals: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "acquirer": self.acquirer,
            "matched": self.matched,
            "differences": self.differences,
            "ledger_movements": self.ledger_movements,
            "acquirer_lines": self.acquirer_lines,
            "ledger_totals": self.ledger_totals,
            "acquirer_totals": self.acquirer_totals,
        }


@dataclass(frozen=True)
class ReconciliationReport:
    day: date
    differences: list[Difference]
    ledger_movements: int  # CAPTURE and REFUND entries of the day
    acquirer_lines: int
    payments_checked: int
    # Per currency: what the ledger and the file say moved (captures - refunds).
    ledger_totals: dict[str, int] = field(default_factory=dict)
    acquirer_totals: dict[str, int] = field(default_factory=dict)
    # Per acquirer, the expected ones first (in their order), then any other seen.
    acquirers: list[AcquirerSummary] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences


class ReconciliationSource(Protocol):
    """Reads across contexts for the reconciliation (one consistent snapshot)."""

    async def entries_created_between(
        self, start: datetime, end: datetime
    ) -> Sequence[JournalEntry]:
        """Every merchant's entries created in [start, end), oldest first."""
        ...

    async def payments_succeeded_between(
        self, start: datetime, end: datetime
    ) -> Sequence[PaymentRecord]:
        """Payments that moved to SUCCEEDED in [start, end)."""
        ...

    async def payments(self, keys: Sequence[tuple[str, str]]) -> Sequence[PaymentRecord]:
        """The payments of these (merchant_id, payment_intent_id); missing ones left out."""
        ...

    async def entries_for_payments(self, keys: Sequence[tuple[str, str]]) -> Sequence[JournalEntry]:
        """Every entry, of any day, of these payments."""
        ...


async def reconcile(
    source: ReconciliationSource,
    day: date,
    lines: Sequence[AcquirerLine],
    *,
    malformed: Sequence[MalformedLine] = (),
    previous_lines: Sequence[AcquirerLine] = (),
    acquirers: Sequence[str] = (),
) -> ReconciliationReport:
    """`acquirers`: the acquirers whose records were taken, each reported even when it
    moved nothing that day."""
    start = midnight(day)
    end = start + timedelta(days=1)
    window = await source.entries_created_between(
        start - timedelta(days=1), end + timedelta(days=1)
    )
    day_entries = [e for e in window if start <= e.created < end]
    succeeded = await source.payments_succeeded_between(start, end)
    keys = sorted(
        {(e.merchant_id, e.payment_intent_id) for e in day_entries if e.payment_intent_id}
        | {(p.merchant_id, p.payment_intent_id) for p in succeeded}
    )
    payments = await source.payments(keys)
    payment_entries = await source.entries_for_payments(keys)
    return compare(
        day,
        day_entries=day_entries,
        window_entries=window,
        payments=payments,
        payment_keys=keys,
        payment_entries=payment_entries,
        lines=lines,
        malformed=malformed,
        previous_lines=previous_lines,
        acquirers=acquirers,
    )


@dataclass(frozen=True)
class _Movement:
    kind: LineKind
    reference: str
    merchant_id: str
    amount: Money
    entry_id: str
    payment_intent_id: str = ""


def _movements(entries: Iterable[JournalEntry], failed_refunds: set[str]) -> list[_Movement]:
    """The entries the acquirer's file lists: captures, and refunds that did not fail."""
    found = []
    for entry in entries:
        if entry.presentment is None:
            continue
        if entry.kind is EntryKind.CAPTURE:
            found.append(
                _Movement(
                    LineKind.CAPTURE,
                    entry.reference,
                    entry.merchant_id,
                    entry.presentment,
                    entry.id,
                    entry.payment_intent_id,
                )
            )
        elif entry.kind is EntryKind.REFUND and entry.source not in failed_refunds:
            found.append(
                _Movement(
                    LineKind.REFUND,
                    entry.source,
                    entry.merchant_id,
                    entry.presentment,
                    entry.id,
                    entry.payment_intent_id,
                )
            )
    return found


def _signed(kind: LineKind, amount: int) -> int:
    return amount if kind is LineKind.CAPTURE else -amount


def _add(totals: dict[str, int], kind: LineKind, amount: Money) -> None:
    totals[amount.currency] = totals.get(amount.currency, 0) + _signed(kind, amount.amount)


def compare(
    day: date,
    *,
    day_entries: Sequence[JournalEntry],
    window_entries: Sequence[JournalEntry],
    payments: Sequence[PaymentRecord],
    payment_keys: Sequence[tuple[str, str]],
    payment_entries: Sequence[JournalEntry],
    lines: Sequence[AcquirerLine],
    malformed: Sequence[MalformedLine] = (),
    previous_lines: Sequence[AcquirerLine] = (),
    acquirers: Sequence[str] = (),
) -> ReconciliationReport:
    """The pure comparison (reconcile() gathers its inputs)."""
    differences = [
        Difference(DifferenceKind.MALFORMED_LINE, m.problem, line=m.line, acquirer=m.acquirer)
        for m in malformed
    ]
    records = {(p.merchant_id, p.payment_intent_id): p for p in payments}

    def holder(merchant_id: str, payment_intent_id: str) -> str:
        record = records.get((merchant_id, payment_intent_id))
        return record.acquirer if record is not None else ""

    def of_movement(movement: _Movement) -> str:
        return holder(movement.merchant_id, movement.payment_intent_id)

    failed = {
        e.source for e in [*window_entries, *payment_entries] if e.kind is EntryKind.REFUND_FAILED
    }

    # --- ledger <-> acquirer ------------------------------------------------------------
    nearby = {(m.kind, m.reference): m for m in _movements(window_entries, failed)}

    def holder_of_line(line: AcquirerLine) -> str:
        """A line without its acquirer (an older file): the acquirer of its payment."""
        movement = nearby.get((line.kind, line.reference))
        return of_movement(movement) if movement is not None else ""

    by_key: dict[tuple[LineKind, str], AcquirerLine] = {}
    for line in lines:
        key = (line.kind, line.reference)
        if key in by_key:
            differences.append(
                Difference(
                    DifferenceKind.DUPLICATE_LINE,
                    f"{line.kind.value} {line.reference} is also on line {by_key[key].line}",
                    reference=line.reference,
                    merchant_id=line.merchant_id,
                    line=line.line,
                    acquirer=line.acquirer or holder_of_line(line),
                )
            )
            continue
        by_key[key] = line
    previous = {(line.kind, line.reference) for line in previous_lines}
    day_movements = _movements(day_entries, failed)

    matched: set[tuple[LineKind, str]] = set()
    matched_elsewhere: set[tuple[LineKind, str]] = set()  # the entry is of another day
    ledger_totals: dict[str, int] = defaultdict(int)
    for movement in day_movements:
        key = (movement.kind, movement.reference)
        ledger_totals[movement.amount.currency] += _signed(movement.kind, movement.amount.amount)
        listed = by_key.get(key)
        if listed is None:
            if key not in previous:
                differences.append(
                    Difference(
                        DifferenceKind.MISSING_AT_ACQUIRER,
                        f"ledger {movement.kind.value} {movement.entry_id} of "
                        f"{movement.amount.amount} {movement.amount.currency} has no line "
                        "in the acquirer's file",
                        reference=movement.reference,
                        merchant_id=movement.merchant_id,
                        acquirer=of_movement(movement),
                    )
                )
            continue
        matched.add(key)
        differences.extend(_line_differences(movement, listed, of_movement(movement)))
    for key, line in by_key.items():
        if key in matched:
            continue
        other_day = nearby.get(key)
        if other_day is None:
            differences.append(
                Difference(
                    DifferenceKind.MISSING_IN_LEDGER,
                    f"acquirer {line.kind.value} of {line.amount.amount} {line.amount.currency} "
                    "has no ledger entry",
                    reference=line.reference,
                    merchant_id=line.merchant_id,
                    line=line.line,
                    acquirer=line.acquirer,
                )
            )
        else:
            matched_elsewhere.add(key)
            differences.extend(_line_differences(other_day, line, of_movement(other_day)))
    acquirer_totals: dict[str, int] = defaultdict(int)
    for line in by_key.values():
        acquirer_totals[line.amount.currency] += _signed(line.kind, line.amount.amount)

    # --- ledger <-> payments ------------------------------------------------------------
    captured: dict[tuple[str, str], int] = defaultdict(int)
    refunded: dict[tuple[str, str], int] = defaultdict(int)
    for entry in payment_entries:
        key2 = (entry.merchant_id, entry.payment_intent_id)
        amount = entry.presentment.amount if entry.presentment is not None else 0
        if entry.kind is EntryKind.CAPTURE:
            captured[key2] += amount
        elif entry.kind is EntryKind.REFUND:
            refunded[key2] += amount
        elif entry.kind is EntryKind.REFUND_FAILED:
            refunded[key2] -= amount
    for merchant_id, intent_id in payment_keys:
        record = records.get((merchant_id, intent_id))
        if record is None:
            differences.append(
                Difference(
                    DifferenceKind.PAYMENT_MISSING,
                    "the ledger has entries for a payment the payments records lack",
                    merchant_id=merchant_id,
                    payment_intent_id=intent_id,
                )
            )
            continue
        got = captured[(merchant_id, intent_id)]
        if got == 0 and record.amount_received > 0:
            differences.append(
                Difference(
                    DifferenceKind.CAPTURE_NOT_POSTED,
                    f"received {record.amount_received} {record.currency}; "
                    "the ledger has no capture",
                    merchant_id=merchant_id,
                    payment_intent_id=intent_id,
                    acquirer=record.acquirer,
                )
            )
        elif got != record.amount_received:
            differences.append(
                Difference(
                    DifferenceKind.RECEIVED_MISMATCH,
                    f"amount_received {record.amount_received}, captured in the ledger {got}",
                    merchant_id=merchant_id,
                    payment_intent_id=intent_id,
                    acquirer=record.acquirer,
                )
            )
        back = refunded[(merchant_id, intent_id)]
        if back != record.amount_refunded:
            differences.append(
                Difference(
                    DifferenceKind.REFUNDED_MISMATCH,
                    f"amount_refunded {record.amount_refunded}, refunded in the ledger {back}",
                    merchant_id=merchant_id,
                    payment_intent_id=intent_id,
                    acquirer=record.acquirer,
                )
            )

    # --- the ledger itself ----------------------------------------------------------------
    day_totals: Counter[str] = Counter()
    for entry in day_entries:
        day_totals.update(totals_by_currency(entry.postings))
    for currency, total in sorted(day_totals.items()):
        if total != 0:
            differences.append(
                Difference(
                    DifferenceKind.UNBALANCED_DAY,
                    f"the postings of the day sum to {total} {currency}, not 0",
                )
            )

    # --- per acquirer -------------------------------------------------------------------
    summaries = {name: AcquirerSummary(name) for name in acquirers}

    def summary(name: str) -> AcquirerSummary:
        name = name or UNKNOWN_ACQUIRER
        return summaries.setdefault(name, AcquirerSummary(name))

    for movement in day_movements:
        key = (movement.kind, movement.reference)
        # Matched, it is counted where its line came from: where the money moved.
        where = by_key[key].acquirer if key in matched else ""
        own = summary(where or of_movement(movement))
        own.ledger_movements += 1
        own.matched += key in matched
        _add(own.ledger_totals, movement.kind, movement.amount)
    for key, line in by_key.items():
        own = summary(line.acquirer or holder_of_line(line))
        own.acquirer_lines += 1
        own.matched += key in matched_elsewhere
        _add(own.acquirer_totals, line.kind, line.amount)
    for difference in differences:
        if difference.kind is not DifferenceKind.UNBALANCED_DAY:  # the ledger's own
            summary(difference.acquirer).differences += 1

    return ReconciliationReport(
        day=day,
        differences=differences,
        ledger_movements=len(day_movements),
        acquirer_lines=len(lines),
        payments_checked=len(payment_keys),
        ledger_totals=dict(ledger_totals),
        acquirer_totals=dict(acquirer_totals),
        acquirers=list(summaries.values()),
    )


def _line_differences(
    movement: _Movement, line: AcquirerLine, holder: str = ""
) -> list[Difference]:
    found = []
    if movement.amount != line.amount:
        found.append(
            Difference(
                DifferenceKind.AMOUNT_MISMATCH,
                f"ledger {movement.amount.amount} {movement.amount.currency}, acquirer "
                f"{line.amount.amount} {line.amount.currency}",
                reference=line.reference,
                merchant_id=movement.merchant_id,
                line=line.line,
                acquirer=line.acquirer or holder,
            )
        )
    if movement.merchant_id != line.merchant_id:
        found.append(
            Difference(
                DifferenceKind.MERCHANT_MISMATCH,
                f"ledger merchant {movement.merchant_id}, acquirer {line.merchant_id[:40]}",
                reference=line.reference,
                merchant_id=movement.merchant_id,
                line=line.line,
                acquirer=line.acquirer or holder,
            )
        )
    return found
