"""Emails the gateway sends: receipts to shoppers, alerts to merchants.

An email is written to the outbox (the `emails` table) by the worker when it reads an
event, one row per (event, kind); a second step sends what is due, outside any
transaction, and retries with back-off. The unique (event, kind) is what keeps a receipt to
one per event however often the worker reads the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class EmailKind(StrEnum):
    PAYMENT_RECEIPT = "payment_receipt"
    REFUND_RECEIPT = "refund_receipt"
    DISPUTE_ALERT = "dispute_alert"
    WEBHOOK_DISABLED_ALERT = "webhook_disabled_alert"


class EmailStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"  # gave up after MAX_ATTEMPTS, or the server refused the recipient


# Seconds before each retry after a failed send; after the last, the email is FAILED.
RETRY_DELAYS = (30, 120, 600, 1800, 3600, 7200)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# A claimed email is not claimed again for this long (a worker killed mid-send).
SEND_LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class Content:
    """What a template produced."""

    subject: str
    text: str
    html: str


@dataclass
class Email:
    id: str  # eml_...
    merchant_id: str
    event_id: str
    kind: EmailKind
    recipient: str
    subject: str
    text_body: str
    html_body: str
    created: datetime
    next_attempt_at: datetime
    status: EmailStatus = EmailStatus.PENDING
    attempts: int = 0
    sent_at: datetime | None = None
    last_error: str = ""

    @property
    def message_id(self) -> str:
        """Stable per (event, kind): a resend after a crash carries the same Message-ID,
        which mail clients use to fold duplicates."""
        return f"<{self.event_id}.{self.kind.value}@paygate>"

    def sent(self, at: datetime) -> None:
        self.status, self.sent_at, self.attempts = EmailStatus.SENT, at, self.attempts + 1
        self.last_error = ""

    def failed(self, at: datetime, error: str, *, permanent: bool = False) -> None:
        self.attempts += 1
        self.last_error = error[:500]
        if permanent or self.attempts >= MAX_ATTEMPTS:
            self.status = EmailStatus.FAILED
        else:
            self.next_attempt_at = at + timedelta(seconds=RETRY_DELAYS[self.attempts - 1])
