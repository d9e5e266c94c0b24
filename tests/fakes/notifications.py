"""In-memory emails outbox, mail directory and mailer (core/notifications/ports.py)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from core.access.roles import Role
from core.notifications.model import Email, EmailStatus
from core.notifications.ports import MailRejected, OutgoingMessage, ReceiptDetails
from core.payments.model import AttemptStatus

if TYPE_CHECKING:
    from tests.fakes.unit_of_work import Tables


class MemoryEmails:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, email: Email) -> bool:
        if any(
            e.event_id == email.event_id and e.kind == email.kind for e in self._t.emails.values()
        ):
            return False
        self._t.emails[email.id] = copy.deepcopy(email)
        return True

    async def claim_due(
        self, now: datetime, *, limit: int, lease_until: datetime
    ) -> Sequence[Email]:
        due = sorted(
            (
                e
                for e in self._t.emails.values()
                if e.status is EmailStatus.PENDING and e.next_attempt_at <= now
            ),
            key=lambda e: (e.next_attempt_at, e.id),
        )[:limit]
        for email in due:
            email.next_attempt_at = lease_until
        return [copy.deepcopy(e) for e in due]

    async def update(self, email: Email) -> None:
        self._t.emails[email.id] = copy.deepcopy(email)

    async def for_event(self, event_id: str) -> Sequence[Email]:
        return [copy.deepcopy(e) for e in self._t.emails.values() if e.event_id == event_id]


class MemoryMailDirectory:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def merchant_name(self, merchant_id: str) -> str:
        merchant = self._t.merchants.get(merchant_id)
        return merchant.name if merchant else ""

    async def owner_email(self, merchant_id: str) -> str:
        owners = sorted(
            (m for m in self._t.memberships.values()
             if m.merchant_id == merchant_id and m.role is Role.OWNER),
            key=lambda m: (m.created, m.user_id),
        )  # fmt: skip
        for membership in owners:
            user = self._t.users.get(membership.user_id)
            if user is not None:
                return user.email
        return ""

    async def receipt_details(self, merchant_id: str, payment_intent_id: str) -> ReceiptDetails:
        intent = self._t.payment_intents.get(payment_intent_id)
        if intent is None or intent.merchant_id != merchant_id:
            return ReceiptDetails("")
        paid = [
            a
            for a in self._t.payment_attempts.values()
            if a.payment_intent_id == payment_intent_id and a.status is AttemptStatus.CAPTURED
        ]
        card = paid[-1] if paid else None
        return ReceiptDetails(
            intent.receipt_email,
            card.card_brand if card else "",
            card.card_last4 if card else "",
        )


class RecordingMailer:
    """Keeps what it was given; `refuse` makes the next sends fail."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []
        self.refuse: MailRejected | None = None

    async def send(self, message: OutgoingMessage) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.sent.append(message)
