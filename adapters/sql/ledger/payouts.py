"""Payouts on PostgreSQL: money leaving a merchant's balance for its bank account."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    RowMapping,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.errors import is_unique_violation
from adapters.sql.tables import (
    payouts,
)
from core.ledger.records import (
    Payout,
    PayoutMethod,
    PayoutStatus,
)
from core.shared.errors import AlreadyExists


def _payout(row: RowMapping) -> Payout:
    return Payout(
        id=row["id"],
        merchant_id=row["merchant_id"],
        amount=row["amount"],
        currency=row["currency"],
        status=PayoutStatus(row["status"]),
        method=PayoutMethod(row["method"]),
        created=row["created"],
        arrival_date=row["arrival_date"],
        balance_transaction_id=row["balance_transaction_id"],
        settlement_id=row["settlement_id"],
        description=row["description"],
        livemode=row["livemode"],
    )


class SqlPayouts:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, payout: Payout) -> None:
        try:
            await self._conn.execute(
                insert(payouts).values(
                    id=payout.id,
                    merchant_id=payout.merchant_id,
                    amount=payout.amount,
                    currency=payout.currency,
                    status=payout.status.value,
                    method=payout.method.value,
                    created=payout.created,
                    arrival_date=payout.arrival_date,
                    balance_transaction_id=payout.balance_transaction_id,
                    settlement_id=payout.settlement_id,
                    description=payout.description,
                    livemode=payout.livemode,
                )
            )
        except IntegrityError as error:
            if is_unique_violation(error):
                raise AlreadyExists(f"Payout {payout.id} exists.") from error
            raise

    async def get(self, merchant_id: str, payout_id: str) -> Payout | None:
        row = (
            (
                await self._conn.execute(
                    select(payouts).where(
                        payouts.c.id == payout_id, payouts.c.merchant_id == merchant_id
                    )
                )
            )
            .mappings()
            .first()
        )
        return _payout(row) if row is not None else None

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int,
        starting_after: str | None = None,
        status: PayoutStatus | None = None,
    ) -> Sequence[Payout]:
        query = select(payouts).where(
            payouts.c.merchant_id == merchant_id, payouts.c.livemode == livemode
        )
        if starting_after is not None:
            query = query.where(payouts.c.id < starting_after)
        if status is not None:
            query = query.where(payouts.c.status == status.value)
        rows = await self._conn.execute(query.order_by(payouts.c.id.desc()).limit(limit))
        return [_payout(row) for row in rows.mappings()]

    async def mark_arrived(self, now: datetime) -> Sequence[Payout]:
        result = await self._conn.execute(
            update(payouts)
            .where(payouts.c.status == PayoutStatus.IN_TRANSIT.value, payouts.c.arrival_date <= now)
            .values(status=PayoutStatus.PAID.value, updated_at=func.now())
            .returning(*payouts.c)
        )
        return [_payout(row) for row in result.mappings()]
