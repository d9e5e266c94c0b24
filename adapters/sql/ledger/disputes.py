"""Disputes and their evidence on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    RowMapping,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.tables import (
    dispute_evidence,
    disputes,
)
from core.ledger.records import (
    OPEN_DISPUTE_STATUSES,
    Dispute,
    DisputeEvidence,
    DisputeStatus,
)

_LATEST_EVIDENCE = (
    select(dispute_evidence.c.evidence)
    .where(dispute_evidence.c.dispute_id == disputes.c.id)
    .order_by(dispute_evidence.c.id.desc())
    .limit(1)
    .correlate(disputes)
    .scalar_subquery()
    .label("evidence")
)


def _dispute(row: RowMapping) -> Dispute:
    evidence = row["evidence"]
    return Dispute(
        id=row["id"],
        merchant_id=row["merchant_id"],
        payment_intent_id=row["payment_intent_id"],
        amount=row["amount"],
        currency=row["currency"],
        reason=row["reason"],
        status=DisputeStatus(row["status"]),
        created=row["created"],
        evidence_due_by=row["evidence_due_by"],
        decide_at=row["decide_at"],
        acquirer_reference=row["acquirer_reference"],
        capture_reference=row["capture_reference"],
        evidence=DisputeEvidence(**evidence) if evidence is not None else None,
        evidence_submitted_at=row["evidence_submitted_at"],
        closed_at=row["closed_at"],
        balance_transactions=tuple(row["balance_transactions"]),
        livemode=row["livemode"],
    )


_DISPUTE_COLUMNS = [c for c in disputes.c if c.name != "updated_at"]


class SqlDisputes:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, dispute: Dispute) -> bool:
        result = await self._conn.execute(
            pg_insert(disputes)
            .values(
                id=dispute.id,
                merchant_id=dispute.merchant_id,
                payment_intent_id=dispute.payment_intent_id,
                amount=dispute.amount,
                currency=dispute.currency,
                reason=dispute.reason,
                status=dispute.status.value,
                created=dispute.created,
                evidence_due_by=dispute.evidence_due_by,
                decide_at=dispute.decide_at,
                acquirer_reference=dispute.acquirer_reference,
                capture_reference=dispute.capture_reference,
                evidence_submitted_at=dispute.evidence_submitted_at,
                closed_at=dispute.closed_at,
                balance_transactions=list(dispute.balance_transactions),
                livemode=dispute.livemode,
            )
            .on_conflict_do_nothing(index_elements=["acquirer_reference"])
            .returning(disputes.c.id)
        )
        return result.first() is not None

    async def _one(self, query: Any) -> Dispute | None:
        row = (await self._conn.execute(query)).mappings().first()
        return _dispute(row) if row is not None else None

    def _select(self) -> Any:
        return select(*_DISPUTE_COLUMNS, _LATEST_EVIDENCE)

    async def get(
        self, merchant_id: str, dispute_id: str, *, for_update: bool = False
    ) -> Dispute | None:
        query = self._select().where(
            disputes.c.id == dispute_id, disputes.c.merchant_id == merchant_id
        )
        if for_update:
            query = query.with_for_update(of=disputes)
        return await self._one(query)

    async def by_acquirer_reference(self, merchant_id: str, reference: str) -> Dispute | None:
        return await self._one(
            self._select().where(
                disputes.c.acquirer_reference == reference, disputes.c.merchant_id == merchant_id
            )
        )

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int,
        starting_after: str | None = None,
    ) -> Sequence[Dispute]:
        query = self._select().where(
            disputes.c.merchant_id == merchant_id, disputes.c.livemode == livemode
        )
        if starting_after is not None:
            query = query.where(disputes.c.id < starting_after)
        rows = await self._conn.execute(query.order_by(disputes.c.id.desc()).limit(limit))
        return [_dispute(row) for row in rows.mappings()]

    async def update(self, dispute: Dispute) -> None:
        await self._conn.execute(
            update(disputes)
            .where(disputes.c.id == dispute.id)
            .values(
                status=dispute.status.value,
                decide_at=dispute.decide_at,
                evidence_submitted_at=dispute.evidence_submitted_at,
                closed_at=dispute.closed_at,
                balance_transactions=list(dispute.balance_transactions),
                updated_at=func.now(),
            )
        )

    async def add_evidence(
        self, merchant_id: str, dispute_id: str, evidence: DisputeEvidence, at: datetime
    ) -> None:
        await self._conn.execute(
            insert(dispute_evidence).values(
                dispute_id=dispute_id,
                merchant_id=merchant_id,
                submitted_at=at,
                evidence=evidence.as_dict(),
            )
        )

    async def claim_due(self, now: datetime) -> Dispute | None:
        return await self._one(
            self._select()
            .where(
                disputes.c.status.in_([s.value for s in OPEN_DISPUTE_STATUSES]),
                disputes.c.decide_at <= now,
            )
            .order_by(disputes.c.decide_at, disputes.c.id)
            .limit(1)
            .with_for_update(of=disputes, skip_locked=True)
        )
