"""Settlements on PostgreSQL: a merchant's settled balance transactions, grouped by day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    RowMapping,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.ledger.journal import transaction_of
from adapters.sql.tables import (
    ledger_entries,
    ledger_postings,
    ledger_unsettled,
    settlement_lines,
    settlements,
)
from core.ledger.accounts import Account, AccountKind
from core.ledger.model import (
    BalanceTransaction,
    BalanceTransactionType,
)
from core.ledger.records import (
    AutomaticPayout,
    DueTransaction,
    Settlement,
    SettlementStatus,
    SettlementTotals,
)


def _settlement(row: RowMapping) -> Settlement:
    return Settlement(
        id=row["id"],
        merchant_id=row["merchant_id"],
        currency=row["currency"],
        day=row["day"],
        cutoff=row["cutoff"],
        created=row["created"],
        status=SettlementStatus(row["status"]),
        completed_at=row["completed_at"],
        totals=SettlementTotals(
            count=row["transaction_count"],
            amount=row["amount"],
            fee=row["fee"],
            net=row["net"],
        ),
        released=row["released"],
        fees_swept=row["fees_swept"],
        automatic_payout=AutomaticPayout(row["automatic_payout"]),
        payout_id=row["payout_id"],
        livemode=row["livemode"],
    )


def _line(row: RowMapping) -> BalanceTransaction:
    return BalanceTransaction(
        id=row["transaction_id"],
        merchant_id=row["merchant_id"],
        type=BalanceTransactionType(row["type"]),
        amount=row["amount"],
        fee=row["fee"],
        net=row["net"],
        currency=row["currency"],
        source=row["source"],
        available_on=row["available_on"],
        created=row["created"],
        exchange_rate=row["exchange_rate"],
        description=row["description"],
        livemode=row["livemode"],
    )


class SqlSettlements:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def due_accounts(self, cutoff: datetime) -> Sequence[tuple[str, str, bool]]:
        u = ledger_unsettled.c
        rows = await self._conn.execute(
            select(u.merchant_id, u.currency, u.livemode)
            .where(u.available_on <= cutoff)
            .distinct()
            .order_by(u.merchant_id, u.currency, u.livemode)
        )
        return [(merchant_id, currency, livemode) for merchant_id, currency, livemode in rows]

    async def add(self, settlement: Settlement) -> bool:
        result = await self._conn.execute(
            pg_insert(settlements)
            .values(
                id=settlement.id,
                merchant_id=settlement.merchant_id,
                currency=settlement.currency,
                day=settlement.day,
                cutoff=settlement.cutoff,
                status=settlement.status.value,
                created=settlement.created,
                automatic_payout=settlement.automatic_payout.value,
                livemode=settlement.livemode,
            )
            .on_conflict_do_nothing(index_elements=["merchant_id", "currency", "day", "livemode"])
            .returning(settlements.c.id)
        )
        return result.first() is not None

    async def _one(self, query: Any) -> Settlement | None:
        row = (await self._conn.execute(query)).mappings().first()
        return _settlement(row) if row is not None else None

    async def claim(self, day: date) -> Settlement | None:
        return await self._one(
            select(settlements)
            .where(settlements.c.day == day, settlements.c.status == SettlementStatus.PENDING.value)
            .order_by(settlements.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )

    async def take_due(
        self, merchant_id: str, currency: str, cutoff: datetime, livemode: bool = False
    ) -> Sequence[DueTransaction]:
        u = ledger_unsettled.c
        # One statement: the queue rows are deleted and their entries read together.
        taken = (
            delete(ledger_unsettled)
            .where(
                u.merchant_id == merchant_id,
                u.currency == currency,
                u.livemode == livemode,
                u.available_on <= cutoff,
            )
            .returning(u.transaction_id)
            .cte("taken")
        )
        pending = Account.merchant(merchant_id, AccountKind.PENDING, currency, livemode)
        p = ledger_postings.c
        on_pending = (
            select(func.coalesce(func.sum(p.amount), 0))
            .where(p.entry_id == ledger_entries.c.id, p.account == pending.code)
            .scalar_subquery()
            .label("pending_raw")
        )
        rows = await self._conn.execute(
            select(ledger_entries, on_pending)
            .join(taken, taken.c.transaction_id == ledger_entries.c.id)
            .order_by(ledger_entries.c.id)
        )
        return [
            DueTransaction(transaction_of(row), pending.normal_balance(int(row["pending_raw"])))
            for row in rows.mappings()
        ]

    async def complete(self, settlement: Settlement, lines: Sequence[BalanceTransaction]) -> None:
        if lines:
            # A list of parameter sets: SQLAlchemy batches the VALUES under asyncpg's
            # 32767-parameter limit, however many lines a settlement has.
            await self._conn.execute(
                insert(settlement_lines),
                [
                    {
                        "transaction_id": t.id,
                        "settlement_id": settlement.id,
                        "merchant_id": t.merchant_id,
                        "type": t.type.value,
                        "source": t.source,
                        "currency": t.currency,
                        "amount": t.amount,
                        "fee": t.fee,
                        "net": t.net,
                        "exchange_rate": t.exchange_rate,
                        "created": t.created,
                        "available_on": t.available_on,
                        "description": t.description,
                    }
                    for t in lines
                ],
            )
        totals = settlement.totals
        await self._conn.execute(
            update(settlements)
            .where(settlements.c.id == settlement.id)
            .values(
                status=settlement.status.value,
                completed_at=settlement.completed_at,
                transaction_count=totals.count,
                amount=totals.amount,
                fee=totals.fee,
                net=totals.net,
                released=settlement.released,
                fees_swept=settlement.fees_swept,
                automatic_payout=settlement.automatic_payout.value,
                payout_id=settlement.payout_id,
            )
        )

    async def get(self, merchant_id: str, settlement_id: str) -> Settlement | None:
        return await self._one(
            select(settlements).where(
                settlements.c.id == settlement_id, settlements.c.merchant_id == merchant_id
            )
        )

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int,
        starting_after: str | None = None,
    ) -> Sequence[Settlement]:
        query = select(settlements).where(
            settlements.c.merchant_id == merchant_id, settlements.c.livemode == livemode
        )
        if starting_after is not None:
            query = query.where(settlements.c.id < starting_after)
        rows = await self._conn.execute(query.order_by(settlements.c.id.desc()).limit(limit))
        return [_settlement(row) for row in rows.mappings()]

    async def lines(self, merchant_id: str, settlement_id: str) -> Sequence[BalanceTransaction]:
        rows = await self._conn.execute(
            # A line's mode is its settlement's (one settlement gathers one mode).
            select(settlement_lines, settlements.c.livemode)
            .join(settlements, settlements.c.id == settlement_lines.c.settlement_id)
            .where(
                settlement_lines.c.settlement_id == settlement_id,
                settlement_lines.c.merchant_id == merchant_id,
            )
            .order_by(settlement_lines.c.transaction_id)
        )
        return [_line(row) for row in rows.mappings()]

    async def claim_payout(self) -> Settlement | None:
        return await self._one(
            select(settlements)
            .where(
                settlements.c.automatic_payout == AutomaticPayout.DUE.value,
                settlements.c.status == SettlementStatus.COMPLETED.value,
            )
            .order_by(settlements.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )

    async def set_payout(
        self, settlement_id: str, state: AutomaticPayout, payout_id: str = ""
    ) -> None:
        await self._conn.execute(
            update(settlements)
            .where(settlements.c.id == settlement_id)
            .values(automatic_payout=state.value, payout_id=payout_id)
        )


# --- payouts ---------------------------------------------------------------------------
