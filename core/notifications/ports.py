"""What the notifications context needs from the outside: a mail transport, the outbox of
emails, and who receives what."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.notifications.model import Email


@dataclass(frozen=True)
class OutgoingMessage:
    recipient: str
    subject: str
    text: str
    html: str
    message_id: str


class MailRejected(Exception):
    """The message was not accepted. `permanent`: the server refused the recipient or
    the message for good (5xx), so sending it again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Mailer(Protocol):
    async def send(self, message: OutgoingMessage) -> None:
        """Hands the message to the mail server; raises MailRejected when it is not taken."""
        ...


@dataclass(frozen=True)
class ReceiptDetails:
    email: str  # the intent's receipt_email; "" when none
    card_brand: str = ""
    card_last4: str = ""


class EmailRepository(Protocol):
    async def add(self, email: Email) -> bool:
        """False (and nothing written) when the event already has an email of this kind."""
        ...

    async def claim_due(
        self, now: datetime, *, limit: int, lease_until: datetime
    ) -> Sequence[Email]:
        """Locks (FOR UPDATE SKIP LOCKED) up to `limit` PENDING emails due at `now` and
        moves their next_attempt_at to `lease_until`, so no other worker sends them."""
        ...

    async def update(self, email: Email) -> None: ...

    async def for_event(self, event_id: str) -> Sequence[Email]: ...


class MailDirectory(Protocol):
    """Who an email goes to, read in the worker's transaction."""

    async def merchant_name(self, merchant_id: str) -> str: ...

    async def owner_email(self, merchant_id: str) -> str:
        """The email of the account's first owner; "" when it has none (a seeded merchant)."""
        ...

    async def receipt_details(self, merchant_id: str, payment_intent_id: str) -> ReceiptDetails:
        """The intent's receipt_email and the card of its successful attempt."""
        ...


class NotificationsScope(Protocol):
    emails: EmailRepository
    mail_directory: MailDirectory
