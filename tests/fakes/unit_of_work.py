"""In-memory repositories and unit of work: the fakes core tests run against.

A unit of work works on a deep copy of the store and swaps it in on commit, under one lock,
so the fake has the all-or-nothing and isolation behaviour the contract tests demand of
the PostgreSQL adapter.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Self

from adapters.memory.intent_changes import MemoryIntentChanges
from core.access.audit import AuditEvent
from core.access.members import Invitation, Membership
from core.access.model import ApiKey, Merchant
from core.access.sessions import AuthSession, RefreshToken
from core.access.users import User
from core.account.profile import BusinessProfile
from core.notifications.model import Email
from core.payments.model import (
    CONFIRMABLE,
    IN_FLIGHT,
    AttemptStatus,
    PaymentAttempt,
    PaymentEvent,
    PaymentIntent,
    Refund,
    RefundStatus,
    Status,
)
from core.risk.model import NO_OVERRIDES, MerchantOverrides
from core.shared.errors import AlreadyExists, Conflict, VersionMoved
from core.unit_of_work import UnitOfWork
from tests.fakes.access import (
    MemoryAuditLog,
    MemoryInvitations,
    MemoryMemberships,
    MemoryRateLimitOverrides,
    MemorySessions,
    MemoryUsers,
)
from tests.fakes.account import MemoryBusinessProfiles
from tests.fakes.analytics import MemoryPaymentAnalytics
from tests.fakes.events import (
    EventTables,
    MemoryDeliveries,
    MemoryEvents,
    MemoryWebhookEndpoints,
)
from tests.fakes.key_changes import MemoryKeyChanges, changed_lookups
from tests.fakes.ledger import (
    LedgerTables,
    MemoryDisputes,
    MemoryFxRateStore,
    MemoryLedgerRepository,
    MemoryMerchantTermsStore,
    MemoryPayouts,
    MemorySettlements,
)
from tests.fakes.notifications import MemoryEmails, MemoryMailDirectory
from tests.fakes.transaction import MemoryStore as BaseStore
from tests.fakes.transaction import MemoryTransaction


@dataclass
class Tables:
    payment_intents: dict[str, PaymentIntent] = field(default_factory=dict)
    payment_events: list[PaymentEvent] = field(default_factory=list)
    payment_attempts: dict[str, PaymentAttempt] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    merchants: dict[str, Merchant] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    memberships: dict[tuple[str, str], Membership] = field(default_factory=dict)
    invitations: dict[str, Invitation] = field(default_factory=dict)
    sessions: dict[str, AuthSession] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    audit_events: list[AuditEvent] = field(default_factory=list)
    rate_limit_overrides: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    business_profiles: dict[str, BusinessProfile] = field(default_factory=dict)
    risk_overrides: dict[str, MerchantOverrides] = field(default_factory=dict)
    ledger: LedgerTables = field(default_factory=LedgerTables)
    webhooks: EventTables = field(default_factory=EventTables)
    emails: dict[str, Email] = field(default_factory=dict)


class _RiskOverrides:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def for_merchant(self, merchant_id: str) -> MerchantOverrides:
        return self._t.risk_overrides.get(merchant_id, NO_OVERRIDES)

    async def set(self, merchant_id: str, overrides: MerchantOverrides, at: datetime) -> None:
        if overrides.empty:
            self._t.risk_overrides.pop(merchant_id, None)
        else:
            self._t.risk_overrides[merchant_id] = overrides


class MemoryStore(BaseStore[Tables]):
    def __init__(self) -> None:
        super().__init__(Tables())
        # Told the intents whose events each commit appended, as NOTIFY does in SQL.
        self.changes = MemoryIntentChanges()
        # Each told the lookups of the API keys each commit changed (one per process).
        self.key_feeds: list[MemoryKeyChanges] = []

    def key_changes(self) -> MemoryKeyChanges:
        """A new process's feed of key changes."""
        feed = MemoryKeyChanges()
        self.key_feeds.append(feed)
        return feed


def _check_intent(tables: Tables, intent: PaymentIntent) -> None:
    """The intent's update's own check, as `_PaymentIntents.update` makes it."""
    stored = tables.payment_intents.get(intent.id)
    if stored is None or (stored.merchant_id, stored.version) != (
        intent.merchant_id,
        intent.version,
    ):
        raise _intent_changed()


def _intent_changed() -> Conflict:
    return VersionMoved("The payment intent was changed concurrently.")


def _save_intent(tables: Tables, intent: PaymentIntent, events: Sequence[PaymentEvent]) -> None:
    intent.version += 1
    tables.payment_intents[intent.id] = replace(intent, events=[])
    tables.payment_events.extend(events)


class _PaymentIntents:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()) -> None:
        if intent.id in self._t.payment_intents:
            raise AlreadyExists(f"payment intent {intent.id} exists")
        self._t.payment_intents[intent.id] = replace(intent, events=[])
        self._t.payment_events.extend(events)

    async def get(
        self, merchant_id: str, intent_id: str, *, for_update: bool = False
    ) -> PaymentIntent | None:
        intent = self._t.payment_intents.get(intent_id)
        if intent is None or intent.merchant_id != merchant_id:
            return None
        return copy.deepcopy(intent)

    async def by_id(self, intent_id: str) -> PaymentIntent | None:
        intent = self._t.payment_intents.get(intent_id)
        return copy.deepcopy(intent) if intent is not None else None

    async def list(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        status: Status | None = None,
        livemode: bool | None = None,
    ) -> Sequence[PaymentIntent]:
        rows = sorted(
            (
                i
                for i in self._t.payment_intents.values()
                if i.merchant_id == merchant_id
                and (livemode is None or i.livemode is livemode)
                and (status is None or i.status is status)
                and (starting_after is None or i.id < starting_after)
            ),
            key=lambda i: i.id,
            reverse=True,
        )
        return [copy.deepcopy(i) for i in rows[:limit]]

    async def update(self, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()) -> None:
        _check_intent(self._t, intent)
        _save_intent(self._t, intent, events)

    async def update_many(self, intents: Sequence[PaymentIntent]) -> None:
        for intent in intents:
            intent.version += 1
            self._t.payment_intents[intent.id] = replace(intent, events=[])

    async def claim_unconfirmed(
        self, created_before: datetime, *, limit: int
    ) -> Sequence[PaymentIntent]:
        rows = sorted(
            (
                i
                for i in self._t.payment_intents.values()
                if i.status in CONFIRMABLE and i.created < created_before
            ),
            key=lambda i: (i.created, i.id),
        )
        return [copy.deepcopy(i) for i in rows[:limit]]

    async def claim_capture_expired(self, now: datetime, *, limit: int) -> Sequence[PaymentIntent]:
        rows = sorted(
            (
                i
                for i in self._t.payment_intents.values()
                if i.status is Status.REQUIRES_CAPTURE
                and i.capture_before is not None
                and i.capture_before <= now
            ),
            key=lambda i: (i.capture_before, i.id),
        )
        return [copy.deepcopy(i) for i in rows[:limit]]


class _PaymentAttempts:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, attempt: PaymentAttempt) -> None:
        self._check_new(attempt)
        self._t.payment_attempts[attempt.id] = copy.deepcopy(attempt)

    def _check_new(self, attempt: PaymentAttempt) -> None:
        if attempt.id in self._t.payment_attempts:
            raise AlreadyExists(f"payment attempt {attempt.id} exists")
        if attempt.status is not AttemptStatus.FAILED and any(
            a.payment_intent_id == attempt.payment_intent_id
            and a.status is not AttemptStatus.FAILED
            for a in self._t.payment_attempts.values()
        ):
            raise active_attempt_exists(attempt.payment_intent_id)

    async def add_with_intent(
        self, attempt: PaymentAttempt, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()
    ) -> None:
        # The intent's check first: the SQL statement inserts nothing when it fails.
        _check_intent(self._t, intent)
        self._check_new(attempt)
        self._t.payment_attempts[attempt.id] = copy.deepcopy(attempt)
        _save_intent(self._t, intent, events)

    async def update_with_intent(
        self, attempt: PaymentAttempt, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()
    ) -> None:
        self._check_version(attempt)
        _check_intent(self._t, intent)
        attempt.version += 1
        self._t.payment_attempts[attempt.id] = copy.deepcopy(attempt)
        _save_intent(self._t, intent, events)

    async def get(self, attempt_id: str, *, for_update: bool = False) -> PaymentAttempt | None:
        attempt = self._t.payment_attempts.get(attempt_id)
        return copy.deepcopy(attempt) if attempt is not None else None

    async def locked_with_intent(
        self, merchant_id: str, attempt_id: str
    ) -> tuple[PaymentIntent, PaymentAttempt] | None:
        attempt = self._t.payment_attempts.get(attempt_id)
        intent = self._t.payment_intents.get(attempt.payment_intent_id) if attempt else None
        if attempt is None or intent is None or intent.merchant_id != merchant_id:
            return None
        return copy.deepcopy(intent), copy.deepcopy(attempt)

    async def get_many(
        self, attempt_ids: Sequence[str], *, for_update: bool = False
    ) -> Sequence[PaymentAttempt]:
        return [
            copy.deepcopy(self._t.payment_attempts[i])
            for i in dict.fromkeys(attempt_ids)
            if i in self._t.payment_attempts
        ]

    async def for_intent(self, merchant_id: str, intent_id: str) -> Sequence[PaymentAttempt]:
        rows = (
            a
            for a in self._t.payment_attempts.values()
            if a.merchant_id == merchant_id and a.payment_intent_id == intent_id
        )
        return [copy.deepcopy(a) for a in sorted(rows, key=lambda a: a.id)]

    async def update(self, attempt: PaymentAttempt) -> None:
        self._check_version(attempt)
        attempt.version += 1
        self._t.payment_attempts[attempt.id] = copy.deepcopy(attempt)

    def _check_version(self, attempt: PaymentAttempt) -> None:
        stored = self._t.payment_attempts.get(attempt.id)
        if stored is None or stored.version != attempt.version:
            raise VersionMoved("The payment attempt was changed concurrently.")

    async def update_many(self, attempts: Sequence[PaymentAttempt]) -> None:
        for attempt in attempts:
            attempt.version += 1
            self._t.payment_attempts[attempt.id] = copy.deepcopy(attempt)

    async def claim_in_flight(
        self, updated_before: datetime, now: datetime, *, limit: int
    ) -> Sequence[PaymentAttempt]:
        rows = sorted(
            (
                a
                for a in self._t.payment_attempts.values()
                if a.status in IN_FLIGHT and a.updated_at < updated_before
            ),
            key=lambda a: (a.updated_at, a.id),
        )[:limit]
        for attempt in rows:
            attempt.updated_at = now
            attempt.version += 1
        return [copy.deepcopy(a) for a in rows]

    async def claim_awaiting_action(
        self,
        payment_method_types: Sequence[str],
        updated_before: datetime,
        now: datetime,
        *,
        limit: int,
    ) -> Sequence[PaymentAttempt]:
        rows = sorted(
            (
                a
                for a in self._t.payment_attempts.values()
                if a.status is AttemptStatus.REQUIRES_ACTION
                and a.payment_method_type in payment_method_types
                and a.updated_at < updated_before
            ),
            key=lambda a: (a.updated_at, a.id),
        )[:limit]
        for attempt in rows:
            attempt.updated_at = now
            attempt.version += 1
        return [copy.deepcopy(a) for a in rows]


def active_attempt_exists(intent_id: str) -> Conflict:
    return Conflict(
        f"Payment intent {intent_id} already has an attempt in progress.",
        reason="ATTEMPT_IN_PROGRESS",
    )


class _Refunds:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, refund: Refund) -> None:
        if refund.id in self._t.refunds:
            raise AlreadyExists(f"refund {refund.id} exists")
        self._t.refunds[refund.id] = copy.deepcopy(refund)

    async def add_with_intent(
        self, refund: Refund, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()
    ) -> None:
        _check_intent(self._t, intent)
        await self.add(refund)
        _save_intent(self._t, intent, events)

    async def update_with_intent(
        self, refund: Refund, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()
    ) -> None:
        self._check_version(refund)
        _check_intent(self._t, intent)
        await self.update(refund)
        _save_intent(self._t, intent, events)

    def _check_version(self, refund: Refund) -> None:
        stored = self._t.refunds.get(refund.id)
        if stored is None or stored.version != refund.version:
            raise Conflict("The refund was changed concurrently.", reason="CONCURRENT_UPDATE")

    async def get(
        self, merchant_id: str, refund_id: str, *, for_update: bool = False
    ) -> Refund | None:
        refund = self._t.refunds.get(refund_id)
        if refund is None or refund.merchant_id != merchant_id:
            return None
        return copy.deepcopy(refund)

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int,
        starting_after: str | None = None,
        payment_intent_id: str | None = None,
    ) -> Sequence[Refund]:
        rows = sorted(
            (
                r
                for r in self._t.refunds.values()
                if r.merchant_id == merchant_id
                and r.livemode == livemode
                and (payment_intent_id is None or r.payment_intent_id == payment_intent_id)
                and (starting_after is None or r.id < starting_after)
            ),
            key=lambda r: r.id,
            reverse=True,
        )
        return [copy.deepcopy(r) for r in rows[:limit]]

    async def update(self, refund: Refund) -> None:
        self._check_version(refund)
        refund.version += 1
        self._t.refunds[refund.id] = copy.deepcopy(refund)

    async def claim_pending(
        self, updated_before: datetime, now: datetime, *, limit: int
    ) -> Sequence[Refund]:
        rows = sorted(
            (
                r
                for r in self._t.refunds.values()
                if r.status is RefundStatus.PENDING and r.updated_at < updated_before
            ),
            key=lambda r: (r.updated_at, r.id),
        )[:limit]
        for refund in rows:
            refund.updated_at = now
            refund.version += 1
        return [copy.deepcopy(r) for r in rows]


class _PaymentEvents:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def append(self, events: Sequence[PaymentEvent]) -> None:
        self._t.payment_events.extend(events)

    async def for_intent(self, merchant_id: str, intent_id: str) -> Sequence[PaymentEvent]:
        return [
            e
            for e in self._t.payment_events
            if e.payment_intent_id == intent_id and e.merchant_id == merchant_id
        ]


class _Merchants:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, merchant: Merchant) -> None:
        self._t.merchants[merchant.id] = merchant

    async def get(self, merchant_id: str) -> Merchant | None:
        return self._t.merchants.get(merchant_id)


class _ApiKeys:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, key: ApiKey) -> None:
        if key.id in self._t.api_keys:
            raise AlreadyExists(f"API key {key.id} exists")
        self._t.api_keys[key.id] = copy.deepcopy(key)

    async def by_lookup(self, lookup: str) -> Sequence[ApiKey]:
        return [copy.deepcopy(k) for k in self._t.api_keys.values() if k.lookup == lookup]

    async def get(self, merchant_id: str, key_id: str) -> ApiKey | None:
        key = self._t.api_keys.get(key_id)
        if key is None or key.merchant_id != merchant_id:
            return None
        return copy.deepcopy(key)

    async def list(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        livemode: bool | None = None,
    ) -> Sequence[ApiKey]:
        rows = sorted(
            (
                k
                for k in self._t.api_keys.values()
                if k.merchant_id == merchant_id
                and (livemode is None or k.livemode is livemode)
                and (starting_after is None or k.id < starting_after)
            ),
            key=lambda k: k.id,
            reverse=True,
        )
        return [copy.deepcopy(k) for k in rows[:limit]]

    async def revoke(self, merchant_id: str, key_id: str, at: datetime) -> None:
        key = self._t.api_keys.get(key_id)
        if key is not None and key.merchant_id == merchant_id and key.revoked_at is None:
            key.revoked_at = at

    async def expire(self, merchant_id: str, key_id: str, at: datetime) -> None:
        key = self._t.api_keys.get(key_id)
        if key is not None and key.merchant_id == merchant_id and key.revoked_at is None:
            key.expires_at = at

    async def set_allowed_ips(
        self, merchant_id: str, key_id: str, allowed_ips: tuple[str, ...]
    ) -> None:
        key = self._t.api_keys.get(key_id)
        if key is not None and key.merchant_id == merchant_id:
            key.allowed_ips = tuple(allowed_ips)

    async def record_use(self, key_id: str, at: datetime, count: int = 1) -> None:
        key = self._t.api_keys.get(key_id)
        if key is not None:
            key.last_used_at = max(at, key.last_used_at or at)
            key.usage_count += count


class MemoryUnitOfWork(MemoryTransaction[Tables], UnitOfWork):
    """The gateway's unit of work (core/unit_of_work.py) on the in-memory tables."""

    _store: MemoryStore

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._events_seen = len(self._work.payment_events)
        return self

    async def commit(self) -> None:
        appended = self._work.payment_events[self._events_seen :]
        keys = (
            changed_lookups(self._store.tables.api_keys, self._work.api_keys)
            if self._store.key_feeds
            else []
        )
        await super().commit()
        self._events_seen = len(self._work.payment_events)
        self._store.changes.publish(dict.fromkeys(e.payment_intent_id for e in appended))
        for feed in self._store.key_feeds:
            feed.publish(keys)

    def _rebind(self) -> None:
        self.payment_intents = _PaymentIntents(self._work)
        self.payment_events = _PaymentEvents(self._work)
        self.payment_attempts = _PaymentAttempts(self._work)
        self.refunds = _Refunds(self._work)
        self.merchants = _Merchants(self._work)
        self.api_keys = _ApiKeys(self._work)
        self.users = MemoryUsers(self._work)
        self.memberships = MemoryMemberships(self._work)
        self.invitations = MemoryInvitations(self._work)
        self.sessions = MemorySessions(self._work)
        self.audit = MemoryAuditLog(self._work)
        self.rate_limit_overrides = MemoryRateLimitOverrides(self._work)
        self.business_profiles = MemoryBusinessProfiles(self._work)
        self.analytics = MemoryPaymentAnalytics(self._work)
        self.risk_overrides = _RiskOverrides(self._work)
        self.events = MemoryEvents(self._work.webhooks)
        self.webhook_endpoints = MemoryWebhookEndpoints(self._work.webhooks)
        self.webhook_deliveries = MemoryDeliveries(self._work.webhooks)
        self.emails = MemoryEmails(self._work)
        self.mail_directory = MemoryMailDirectory(self._work)
        ledger = self._work.ledger
        self.ledger = MemoryLedgerRepository(ledger)
        self.merchant_terms = MemoryMerchantTermsStore(ledger.merchant_terms)
        self.fx_rates = MemoryFxRateStore(ledger.fx_rates)
        self.settlements = MemorySettlements(ledger)
        self.payouts = MemoryPayouts(ledger)
        self.disputes = MemoryDisputes(ledger)


class MemoryUnitOfWorkFactory:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store)
