"""Receipts and alerts: from the events outbox to the mail server, off the request path.

Two steps, each its own short transaction, run by the worker:
1. `queue` claims events not yet looked at (FOR UPDATE SKIP LOCKED), writes the emails
   they call for into the outbox (at most one per event and kind) and marks the events.
2. `send_due` claims due emails under a lease, commits, sends each outside any
   transaction, and records the outcome (sent, retry later, or failed for good).
A worker killed between sending and recording sends that email again after its lease, with
the same Message-ID: at least once, never lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from core.account.ports import AccountScope
from core.events.model import Event, EventType
from core.notifications.model import SEND_LEASE, Content, Email, EmailKind
from core.notifications.ports import Mailer, MailRejected, NotificationsScope, OutgoingMessage
from core.notifications.templates import DEFAULT_LOCALE, card_label, format_amount, render
from core.shared.ports import Clock, IdGenerator
from core.unit_of_work import UnitOfWork, UnitOfWorkFactory

# Events older than this when first looked at get no email: mail about last month's
# payment (after an outage, or when mail was just configured) would confuse more than help.
MAX_EVENT_AGE = timedelta(hours=24)


class AlertScope(NotificationsScope, AccountScope, Protocol):
    """What finding an alert's recipient reads: the profile, then the owner."""


async def alert_recipient(scope: AlertScope, merchant_id: str) -> str:
    """Where a merchant's alerts go: the business profile's support email when the
    merchant set one (the address it watches for its customers' trouble), else the
    account owner's email."""
    profile = await scope.business_profiles.get(merchant_id)
    if profile is not None and profile.support_email:
        return profile.support_email
    return await scope.mail_directory.owner_email(merchant_id)


class Notifications:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: IdGenerator,
        clock: Clock,
        mailer: Mailer | None,
        *,
        locale: str = DEFAULT_LOCALE,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self.mailer = mailer
        self._locale = locale

    async def queue(self, *, limit: int) -> int:
        """Turns up to `limit` new events into emails; returns how many events it read."""
        now = self._clock.now()
        async with self._uow() as uow:
            events = await uow.events.claim_unnotified(limit=limit)
            for event in events:
                if now - event.created > MAX_EVENT_AGE:
                    continue
                for kind, recipient, content in await self._emails_for(uow, event):
                    await uow.emails.add(
                        Email(
                            id=self._ids.new("eml"),
                            merchant_id=event.merchant_id,
                            event_id=event.id,
                            kind=kind,
                            recipient=recipient,
                            subject=content.subject,
                            text_body=content.text,
                            html_body=content.html,
                            created=now,
                            next_attempt_at=now,
                        )
                    )
            await uow.events.mark_notified([e.id for e in events], now)
            await uow.commit()
        return len(events)

    async def send_due(self, *, limit: int) -> int:
        """Sends up to `limit` due emails; returns how many it tried."""
        if self.mailer is None:
            return 0
        now = self._clock.now()
        async with self._uow() as uow:
            claimed = list(
                await uow.emails.claim_due(now, limit=limit, lease_until=now + SEND_LEASE)
            )
            await uow.commit()
        for email in claimed:
            message = OutgoingMessage(
                email.recipient, email.subject, email.text_body, email.html_body,
                email.message_id,
            )  # fmt: skip
            try:
                await self.mailer.send(message)
            except MailRejected as error:
                email.failed(self._clock.now(), str(error), permanent=error.permanent)
            else:
                email.sent(self._clock.now())
            async with self._uow() as uow:
                await uow.emails.update(email)
                await uow.commit()
        return len(claimed)

    async def _emails_for(
        self, uow: UnitOfWork, event: Event
    ) -> list[tuple[EmailKind, str, Content]]:
        data: Mapping[str, Any] = event.data
        merchant = await uow.mail_directory.merchant_name(event.merchant_id)
        values = {"merchant": merchant, "date": event.created.date().isoformat()}
        if event.type == EventType.PAYMENT_INTENT_SUCCEEDED:
            details = await uow.mail_directory.receipt_details(event.merchant_id, data["id"])
            if not details.email:
                return []
            card = {"brand": details.card_brand, "last4": details.card_last4}
            values |= {
                "amount": self._amount(data.get("amount_received") or data["amount"], data),
                "payment": str(data["id"]),
                "description": str(data.get("description", "")),
                "card": card_label(card),
            }
            return [(EmailKind.PAYMENT_RECEIPT, details.email,
                     render(EmailKind.PAYMENT_RECEIPT, values))]  # fmt: skip
        if event.type == EventType.REFUND_UPDATED and data.get("status") == "SUCCEEDED":
            intent = str(data["payment_intent"])
            details = await uow.mail_directory.receipt_details(event.merchant_id, intent)
            if not details.email:
                return []
            values |= {
                "amount": self._amount(data["amount"], data),
                "refund": str(data["id"]),
                "payment": intent,
            }
            return [(EmailKind.REFUND_RECEIPT, details.email,
                     render(EmailKind.REFUND_RECEIPT, values))]  # fmt: skip
        if event.type == EventType.CHARGE_DISPUTE_CREATED:
            values |= {
                "amount": self._amount(data["amount"], data),
                "reason": str(data.get("reason", "")),
                "dispute": str(data["id"]),
                "payment": str(data.get("payment_intent", "")),
            }
            return await self._alert(uow, event, EmailKind.DISPUTE_ALERT, values)
        if event.type == EventType.WEBHOOK_ENDPOINT_DISABLED:
            values |= {
                "endpoint": str(data["id"]),
                "url": str(data.get("url", "")),
                "reason": str(data.get("disabled_reason", "")),
            }
            return await self._alert(uow, event, EmailKind.WEBHOOK_DISABLED_ALERT, values)
        return []

    async def _alert(
        self, uow: UnitOfWork, event: Event, kind: EmailKind, values: dict[str, str]
    ) -> list[tuple[EmailKind, str, Content]]:
        recipient = await alert_recipient(uow, event.merchant_id)
        return [(kind, recipient, render(kind, values))] if recipient else []

    def _amount(self, amount: object, data: Mapping[str, Any]) -> str:
        # int64 is a JSON string in the API's rendering.
        return format_amount(int(str(amount)), str(data["currency"]), self._locale)
