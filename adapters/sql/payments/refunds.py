"""Refunds on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, bindparam, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.errors import already_exists
from adapters.sql.payments.intents import intent_changed, intent_params, intent_saved, with_lines
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


# --- a refund written with its intent, one statement ------------------------------------
#
# A refund's reservation (the new refund and the intent's amount_refunded) and the
# acquirer's answer (the refund settled and the intent's amounts) in one statement each,
# as an attempt with its intent (attempts.py): the intent's update is the CTE `saved`
# with all its conditions, the refund's write reads FROM it, and the intent's write is
# guarded by the refund's own optimistic check. Both rows or neither.


def _added_with_intent(lines: bool) -> Any:
    saved = intent_saved()
    statement = (
        insert(refunds)
        .from_select(
            [c.name for c in refunds.c],
            select(*(bindparam(f"n_{c.name}", type_=c.type) for c in refunds.c)).select_from(saved),
        )
        .returning(select(saved.c.version).scalar_subquery().label("intent_version"))
    )
    return with_lines(statement, saved) if lines else statement


def _updated_with_intent(lines: bool) -> Any:
    t = refunds.c
    held = refunds.alias("held")
    saved = intent_saved(
        exists().where(held.c.id == bindparam("b_r_id"), held.c.version == bindparam("b_r_version"))
    )
    statement = (
        update(refunds)
        .where(
            t.id == bindparam("b_r_id"),
            t.version == bindparam("b_r_version"),
            exists(select(saved.c.version)),  # only with its intent
        )
        .values(
            {name: bindparam(f"w_{name}") for name in _MUTABLE_REFUND_COLUMNS}
            | {"version": t.version + 1}
        )
        .returning(
            t.version.label("refund_version"),
            select(saved.c.version).scalar_subquery().label("intent_version"),
        )
    )
    return with_lines(statement, saved) if lines else statement


_ADD_WITH_INTENT = {lines: _added_with_intent(lines) for lines in (False, True)}
_UPDATE_WITH_INTENT = {lines: _updated_with_intent(lines) for lines in (False, True)}
_VERSION = select(refunds.c.version).where(refunds.c.id == bindparam("refund_id"))


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
        params = intent_params(intent, events) | {
            f"n_{k}": v for k, v in _refund_values(refund).items()
        }
        try:
            result = await self._conn.execute(_ADD_WITH_INTENT[bool(events)], params)
        except IntegrityError as error:
            raise already_exists(error, "Refund", refund.id) from error
        row = result.mappings().first()
        if row is None:  # the intent's version had moved: nothing was written
            raise intent_changed()
        intent.version = row["intent_version"]

    async def update_with_intent(
        self, refund: Refund, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()
    ) -> None:
        values = _refund_values(refund)
        params = intent_params(intent, events) | {
            f"w_{name}": values[name] for name in _MUTABLE_REFUND_COLUMNS
        }
        params |= {"b_r_id": refund.id, "b_r_version": refund.version}
        result = await self._conn.execute(_UPDATE_WITH_INTENT[bool(events)], params)
        row = result.mappings().first()
        if row is None:
            # Nothing was written; the refund's check came first in the two statements
            # this one replaces, then the intent's.
            now = (await self._conn.execute(_VERSION, {"refund_id": refund.id})).scalar()
            raise _refund_changed() if now != refund.version else intent_changed()
        refund.version = row["refund_version"]
        intent.version = row["intent_version"]

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
