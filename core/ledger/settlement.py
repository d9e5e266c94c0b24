"""The daily settlement batch, the settlement records, and their CSV report.

`SettlementBatch.run_settlement(day, now)` runs in the worker role, once a day after
00:00 UTC (any number of workers may run it at once):

1. plan: one PENDING settlement per (merchant, currency) with balance transactions
   available by the cutoff (00:00 UTC of `day`) that no settlement holds yet. A unique
   (merchant, currency, day) makes planning idempotent.
2. work, one settlement per transaction: claim a PENDING settlement of the day (FOR
   UPDATE SKIP LOCKED: workers never wait on each other), take the merchant's debit lock,
   take its due balance transactions off the unsettled queue, move what they left in
   pending to available (`Settlement.to_release`: the captures' net, less what refunds
   and disputes among them paid from pending), sweep the merchant's fees to platform
   revenue, and write the lines and totals. A worker that dies mid-way rolls back; the
   settlement stays PENDING for the next claim.

Afterwards pending holds exactly the pending part of the unsettled transactions, so once
everything up to a cutoff is settled, available - receivable is the sum of the settled
transactions' net (less what payouts took).

The report is one CSV line per balance transaction plus a TOTAL line (docs/ledger.md).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime

from core.access.model import Principal
from core.events.model import EventType
from core.events.ports import NoPublisher, Publisher
from core.ledger.accounts import Account, AccountKind
from core.ledger.hooks import FixedClock
from core.ledger.model import BalanceTransaction
from core.ledger.records import Settlement, midnight
from core.ledger.use_cases import Bookkeeper
from core.shared.errors import InvalidArgument, NotFound, Violations
from core.shared.money import Money
from core.shared.pagination import Page, page_limit, unknown_cursor
from core.shared.ports import IdGenerator
from core.unit_of_work import UnitOfWorkFactory

__all__ = ["REPORT_COLUMNS", "SettlementBatch", "Settlements", "report_csv"]


class SettlementBatch:
    def __init__(
        self, uow: UnitOfWorkFactory, ids: IdGenerator, events: Publisher | None = None
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._events = events or NoPublisher()

    async def run_settlement(self, day: date, now: datetime) -> list[Settlement]:
        """Settles `day` (cutoff 00:00 UTC of it); returns what this worker completed."""
        cutoff = midnight(day)
        if now < cutoff:
            raise InvalidArgument.field("day", f"{day.isoformat()} has not begun yet")
        async with self._uow() as uow:
            for merchant_id, currency, livemode in await uow.settlements.due_accounts(cutoff):
                await uow.settlements.add(
                    Settlement(
                        id=self._ids.new("st"),
                        merchant_id=merchant_id,
                        currency=currency,
                        day=day,
                        cutoff=cutoff,
                        created=now,
                        livemode=livemode,
                    )
                )
            await uow.commit()
        completed: list[Settlement] = []
        while (settled := await self._settle_one(day, now)) is not None:
            completed.append(settled)
        return completed

    async def _settle_one(self, day: date, now: datetime) -> Settlement | None:
        async with self._uow() as uow:
            claimed = await uow.settlements.claim(day)
            if claimed is None:
                return None
            merchant_id, currency, livemode = (
                claimed.merchant_id,
                claimed.currency,
                claimed.livemode,
            )
            keeper = Bookkeeper(uow.fx_rates, self._ids, FixedClock(now))
            await uow.ledger.lock_funds(merchant_id, currency, livemode)
            taken = list(
                await uow.settlements.take_due(merchant_id, currency, claimed.cutoff, livemode)
            )
            lines = [d.transaction for d in taken]
            released = swept = 0
            due = Settlement.to_release(taken)
            if due > 0:
                release = await keeper.release_pending(
                    uow.ledger,
                    merchant_id=merchant_id,
                    source=claimed.id,
                    due=Money(due, currency),
                    livemode=livemode,
                )
                if release is not None:
                    released = release.raw(
                        Account.merchant(merchant_id, AccountKind.PENDING, currency, livemode)
                    )
            sweep = await keeper.sweep_fees(
                uow.ledger,
                merchant_id=merchant_id,
                source=claimed.id,
                currency=currency,
                livemode=livemode,
            )
            if sweep is not None:
                swept = sweep.raw(
                    Account.merchant(merchant_id, AccountKind.FEES, currency, livemode)
                )
            completed = claimed.completed(lines, released=released, fees_swept=swept, at=now)
            await uow.settlements.complete(completed, lines)
            await self._events.publish(
                uow,
                merchant_id=merchant_id,
                type=EventType.SETTLEMENT_COMPLETED.value,
                obj=completed,
                livemode=livemode,
                at=now,
            )
            await uow.commit()
        return completed


def _visible(caller: Principal, settlement: Settlement | None) -> bool:
    """Another mode's settlement does not exist for the caller, like another merchant's."""
    return settlement is not None and settlement.livemode == caller.livemode


class Settlements:
    """GET /v1/settlements, /v1/settlements/{id} and its report."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def list(
        self, caller: Principal, *, limit: int = 0, starting_after: str = ""
    ) -> Page[Settlement]:
        violations = Violations()
        limit = page_limit(limit, violations)
        violations.raise_if_any()
        async with self._uow() as uow:
            if starting_after and not _visible(
                caller, await uow.settlements.get(caller.merchant_id, starting_after)
            ):
                raise unknown_cursor()
            rows = await uow.settlements.list(
                caller.merchant_id,
                livemode=caller.livemode,
                limit=limit + 1,
                starting_after=starting_after or None,
            )
        return Page.from_overfetch(list(rows), limit)

    async def get(self, caller: Principal, settlement_id: str) -> Settlement:
        async with self._uow() as uow:
            found = await uow.settlements.get(caller.merchant_id, settlement_id)
        if found is None or not _visible(caller, found):
            raise NotFound(f"No such settlement: {settlement_id[:40]!r}", metadata={"param": "id"})
        return found

    async def report(self, caller: Principal, settlement_id: str) -> str:
        """The CSV report; only a COMPLETED settlement has lines (a PENDING one has the
        header and a zero TOTAL line)."""
        async with self._uow() as uow:
            found = await uow.settlements.get(caller.merchant_id, settlement_id)
            if found is None or not _visible(caller, found):
                raise NotFound(
                    f"No such settlement: {settlement_id[:40]!r}", metadata={"param": "id"}
                )
            lines = await uow.settlements.lines(caller.merchant_id, settlement_id)
        return report_csv(found, lines)


REPORT_COLUMNS = (
    "settlement_id",
    "balance_transaction_id",
    "type",
    "source",
    "created",
    "available_on",
    "currency",
    "amount",
    "fee",
    "net",
    "exchange_rate",
    "description",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection)."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def report_csv(settlement: Settlement, lines: Sequence[BalanceTransaction]) -> str:
    """RFC 4180 CSV (CRLF line ends), amounts in integer minor units of `currency`,
    times RFC 3339 UTC; one line per balance transaction, oldest first, then a TOTAL line
    whose amount, fee and net are the sums and whose balance_transaction_id column holds
    the number of lines."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    for line in lines:
        writer.writerow(
            [
                settlement.id,
                line.id,
                line.type.value,
                _text(line.source),
                _time(line.created),
                _time(line.available_on),
                line.currency,
                line.amount,
                line.fee,
                line.net,
                "" if line.exchange_rate is None else str(line.exchange_rate),
                _text(line.description),
            ]
        )
    writer.writerow(
        [
            settlement.id,
            str(len(lines)),
            "TOTAL",
            "",
            _time(settlement.completed_at or settlement.created),
            _time(settlement.cutoff),
            settlement.currency,
            sum(line.amount for line in lines),
            sum(line.fee for line in lines),
            sum(line.net for line in lines),
            "",
            f"released {settlement.released} from pending; swept {settlement.fees_swept} fees",
        ]
    )
    return out.getvalue()
