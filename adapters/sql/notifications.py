"""The emails outbox and the mail directory on PostgreSQL (core/notifications/ports.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import RowMapping, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.tables import (
    emails,
    memberships,
    merchants,
    payment_attempts,
    payment_intents,
    users,
)
from core.access.roles import Role
from core.notifications.model import Email, EmailKind, EmailStatus
from core.notifications.ports import ReceiptDetails
from core.payments.model import AttemptStatus


def _email(row: RowMapping) -> Email:
    return Email(
        id=row["id"],
        merchant_id=row["merchant_id"],
        event_id=row["event_id"],
        kind=EmailKind(row["kind"]),
        recipient=row["recipient"],
        subject=row["subject"],
        text_body=row["text_body"],
        html_body=row["html_body"],
        created=row["created"],
        next_attempt_at=row["next_attempt_at"],
        status=EmailStatus(row["status"]),
        attempts=row["attempts"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
    )


class SqlEmails:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, email: Email) -> bool:
        result = await self._conn.execute(
            insert(emails)
            .values(
                id=email.id,
                merchant_id=email.merchant_id,
                event_id=email.event_id,
                kind=email.kind.value,
                recipient=email.recipient,
                subject=email.subject,
                text_body=email.text_body,
                html_body=email.html_body,
                status=email.status.value,
                attempts=email.attempts,
                next_attempt_at=email.next_attempt_at,
                created=email.created,
                sent_at=email.sent_at,
                last_error=email.last_error,
            )
            .on_conflict_do_nothing(index_elements=["event_id", "kind"])
        )
        return bool(result.rowcount)

    async def claim_due(
        self, now: datetime, *, limit: int, lease_until: datetime
    ) -> Sequence[Email]:
        t = emails.c
        due = (
            select(t.id)
            .where(t.status == EmailStatus.PENDING.value, t.next_attempt_at <= now)
            .order_by(t.next_attempt_at, t.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        rows = await self._conn.execute(
            update(emails)
            .where(t.id.in_(due))
            .values(next_attempt_at=lease_until)
            .returning(emails)
        )
        return sorted((_email(r) for r in rows.mappings()), key=lambda e: e.id)

    async def update(self, email: Email) -> None:
        await self._conn.execute(
            update(emails)
            .where(emails.c.id == email.id)
            .values(
                status=email.status.value,
                attempts=email.attempts,
                next_attempt_at=email.next_attempt_at,
                sent_at=email.sent_at,
                last_error=email.last_error,
            )
        )

    async def for_event(self, event_id: str) -> Sequence[Email]:
        rows = await self._conn.execute(
            select(emails).where(emails.c.event_id == event_id).order_by(emails.c.id)
        )
        return [_email(r) for r in rows.mappings()]


class SqlMailDirectory:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def merchant_name(self, merchant_id: str) -> str:
        name = (
            await self._conn.execute(select(merchants.c.name).where(merchants.c.id == merchant_id))
        ).scalar()
        return name or ""

    async def owner_email(self, merchant_id: str) -> str:
        m = memberships.c
        email = (
            await self._conn.execute(
                select(users.c.email)
                .join(memberships, m.user_id == users.c.id)
                .where(m.merchant_id == merchant_id, m.role == Role.OWNER.value)
                .order_by(m.created, m.user_id)
                .limit(1)
            )
        ).scalar()
        return email or ""

    async def receipt_details(self, merchant_id: str, payment_intent_id: str) -> ReceiptDetails:
        i, a = payment_intents.c, payment_attempts.c
        receipt_email = (
            await self._conn.execute(
                select(i.receipt_email).where(
                    i.id == payment_intent_id, i.merchant_id == merchant_id
                )
            )
        ).scalar()
        if not receipt_email:
            return ReceiptDetails("")
        card = (
            await self._conn.execute(
                select(a.card_brand, a.card_last4)
                .where(
                    a.payment_intent_id == payment_intent_id,
                    a.merchant_id == merchant_id,
                    a.status == AttemptStatus.CAPTURED.value,
                )
                .order_by(a.created.desc())
                .limit(1)
            )
        ).first()
        return ReceiptDetails(receipt_email, card[0] if card else "", card[1] if card else "")
