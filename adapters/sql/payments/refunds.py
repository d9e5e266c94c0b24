"""Refunds on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.errors import already_exists
from adapters.sql.payments.with_intent import WrittenWithIntent
from adapters.sql.tables import (
    refunds,
)
from core.payments.model import (
    PaymentEvent,
    PaymentIntent,
    Refund,
    RefundStatus,
)
from core.shared.errors import Conflict

# --- refunds ---------------------------------------------------------------------------


def _refund(row: RowMapping) -> Refund:
    return Refund(
        id=row["id"],
        merchant_id=row["merchant_id"],
        payment_intent_id=row["payment_intent_id"],
        attempt_id=row["attempt_id"],
        amount=row["amount"],
        currency=row["currency"],
        status=RefundStatus(row["status"]),
        created=row["created"],
        updated_at=row["updated_at"],
        reason=row["reason"],
        acquirer_reference=row["acquirer_reference"],
        failure_code=row["failure_code"],
        version=row["version"],
        livemode=row["livemode"],
    )


def _refund_values(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "merchant_id": refund.merchant_id,
        "payment_intent_id": refund.payment_intent_id,
        "attempt_id": refund.attempt_id,
        "amount": refund.amount,
        "currency": refund.currency,
        "status": refund.status.value,
        "reason": refund.reason,
        "acquirer_reference": refund.acquirer_reference,
        "failure_code": refund.failure_code,
        "created": refund.created,
        "updated_at": refund.updated_at,
        "version": refund.version,
        "livemode": refund.livemode,
    }


# What a refund's update changes.
_MUTABLE_REFUND_COLUMNS = ("status", "acquirer_reference", "failure_code", "updated_at")


# A refund's reservation and the acquirer's answer write the refund with its intent and
# the intent's history lines: one statement (with_intent.py).
_WITH_INTENT = WrittenWithIntent(refunds, _MUTABLE_REFUND_COLUMNS)


def _refund_changed() -> Conflict:
    return Conflict("The refund was changed concurrently.", reason="CONCURRENT_UPDATE")


class SqlRefunds:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, refund: Refund) -> None:
        try:
            await self._conn.execute(insert(refunds).values(_refund_values(refund)))
        except IntegrityError as error:
            raise already_exists(error, "Refund", refund.id) from error

    async def add_with_intent(
        self, refund: Refund, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()
    ) -> None:
        try:
            await _WITH_INTENT.add(self._conn, _refund_values(refund), intent, events)
        except IntegrityError as error:
            raise already_exists(error, "Refund", refund.id) from error

    async def update_with_intent(
        self, refund: Refund, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()
    ) -> None:
        values = _refund_values(refund)
        refund.version = await _WITH_INTENT.update(
            self._conn, values, intent, events, _refund_changed
        )

    async def get(
        self, merchant_id: str, refund_id: str, *, for_update: bool = False
    ) -> Refund | None:
        t = refunds.c
        query = select(refunds).where(t.id == refund_id, t.merchant_id == merchant_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).mappings().first()
        return _refund(row) if row is not None else None

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int,
        starting_after: str | None = None,
        payment_intent_id: str | None = None,
    ) -> Sequence[Refund]:
        t = refunds.c
        query = select(refunds).where(t.merchant_id == merchant_id, t.livemode == livemode)
        if payment_intent_id is not None:
            query = query.where(t.payment_intent_id == payment_intent_id)
        if starting_after is not None:
            query = query.where(t.id < starting_after)
        query = query.order_by(t.id.desc()).limit(limit)
        return [_refund(row) for row in (await self._conn.execute(query)).mappings()]

    async def update(self, refund: Refund) -> None:
        t = refunds.c
        statement = (
            update(refunds)
            .where(t.id == refund.id, t.version == refund.version)
            .values(
                status=refund.status.value,
                acquirer_reference=refund.acquirer_reference,
                failure_code=refund.failure_code,
                updated_at=refund.updated_at,
                version=t.version + 1,
            )
            .returning(t.version)
        )
        new_version = (await self._conn.execute(statement)).scalar_one_or_none()
        if new_version is None:
            raise _refund_changed()
        refund.version = new_version

    async def claim_pending(
        self, updated_before: datetime, now: datetime, *, limit: int
    ) -> Sequence[Refund]:
        t = refunds.c
        picked = (
            select(t.id)
            .where(t.status == RefundStatus.PENDING.value, t.updated_at < updated_before)
            .order_by(t.updated_at, t.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(refunds)
            .where(t.id.in_(picked.scalar_subquery()))
            .values(updated_at=now, version=t.version + 1)
            .returning(refunds)
        )
        rows = (await self._conn.execute(statement)).mappings()
        return sorted((_refund(row) for row in rows), key=lambda r: r.id)
