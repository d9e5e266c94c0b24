"""The gateway's unit of work: one transaction across the scopes of payments, access and
the ledger, so that a state change, its events and the postings of the money it moved
commit together or not at all.

Each context owns its scope (the repositories of its own tables); this is the one place
that composes them. The adapters declare nothing again: SqlUnitOfWork
(adapters/sql/unit_of_work.py) and the in-memory fake (tests/fakes/unit_of_work.py)
subclass UnitOfWork and only build the repositories. A new context adds its scope here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from core.access.ports import AccessScope
from core.account.ports import AccountScope
from core.analytics.ports import AnalyticsScope
from core.events.ports import EventsScope
from core.ledger.ports import LedgerScope
from core.notifications.ports import NotificationsScope
from core.payments.model import PaymentAttempt, PaymentEvent, PaymentIntent
from core.payments.ports import PaymentsScope
from core.risk.ports import RiskScope
from core.shared.unit_of_work import Transaction


class UnitOfWork(
    PaymentsScope,
    AccessScope,
    AccountScope,
    AnalyticsScope,
    LedgerScope,
    EventsScope,
    NotificationsScope,
    RiskScope,
    Transaction,
    Protocol,
):
    """`async with uow:` opens a transaction; leaving without `commit()` rolls it back."""

    def conclude(self, answer: object) -> None:
        """`answer` is the call's answer once this transaction commits: the next commit
        may store it for the call's idempotency key in the same transaction
        (core/idempotency/call.py). A hint: nothing else changes, and a unit of work
        that keeps no keys ignores it."""
        return None


UnitOfWorkFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True, slots=True)
class Saved:
    """The intent and attempt the caller has just written in the transaction, as written:
    a hook uses them instead of reading them back (one statement each)."""

    intent: PaymentIntent | None = None
    attempt: PaymentAttempt | None = None

    def intent_of(self, intent_id: str) -> PaymentIntent | None:
        return self.intent if self.intent is not None and self.intent.id == intent_id else None

    def attempt_of(self, attempt_id: str) -> PaymentAttempt | None:
        attempt = self.attempt
        return attempt if attempt is not None and attempt.id == attempt_id else None


NOTHING_SAVED = Saved()


class Bookkeeping(Protocol):
    """Where the money an intent's events moved is posted: the ledger, in the same unit of
    work as the state change, so both commit or neither does
    (core/ledger/payment_postings.py)."""

    async def record(
        self, uow: UnitOfWork, events: Sequence[PaymentEvent], saved: Saved = NOTHING_SAVED
    ) -> None: ...


class NoBookkeeping:
    """For tests of the payment flows alone."""

    async def record(
        self, uow: UnitOfWork, events: Sequence[PaymentEvent], saved: Saved = NOTHING_SAVED
    ) -> None:
        return None
