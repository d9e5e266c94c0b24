"""In-memory repositories and unit of work: the fakes core tests run against.

A unit of work works on a deep copy of the store and swaps it in on commit, under one lock,
so the fake has the all-or-nothing and isolation behaviour the contract tests demand of
the PostgreSQL adapter.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Self

from adapters.memory.ledger import (
    LedgerTables,
    MemoryDisputes,
    MemoryFxRateStore,
    MemoryLedgerRepository,
    MemoryMerchantTermsStore,
    MemoryPayouts,
    MemorySettlements,
)
from core.access.model import ApiKey, Merchant
from core.access.ports import ApiKeyRepository, MerchantRepository
from core.ledger.ports import (
    DisputeRepository,
    FxRateStore,
    LedgerRepository,
    MerchantTermsRepository,
    PayoutRepository,
    SettlementRepository,
)
from core.payments.model import PaymentEvent, PaymentIntent, Status
from core.payments.ports import PaymentEventLog, PaymentIntentRepository
from core.shared.errors import AlreadyExists, Conflict


@dataclass
class Tables:
    payment_intents: dict[str, PaymentIntent] = field(default_factory=dict)
    payment_events: list[PaymentEvent] = field(default_factory=list)
    merchants: dict[str, Merchant] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    ledger: LedgerTables = field(default_factory=LedgerTables)


class MemoryStore:
    def __init__(self) -> None:
        self.tables = Tables()
        self.lock = asyncio.Lock()


class _PaymentIntents:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, intent: PaymentIntent) -> None:
        if intent.id in self._t.payment_intents:
            raise AlreadyExists(f"payment intent {intent.id} exists")
        self._t.payment_intents[intent.id] = replace(intent, events=[])

    async def get(
        self, merchant_id: str, intent_id: str, *, for_update: bool = False
    ) -> PaymentIntent | None:
        intent = self._t.payment_intents.get(intent_id)
        if intent is None or intent.merchant_id != merchant_id:
            return None
        return copy.deepcopy(intent)

    async def list(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        status: Status | None = None,
    ) -> Sequence[PaymentIntent]:
        rows = sorted(
            (
                i
                for i in self._t.payment_intents.values()
                if i.merchant_id == merchant_id
                and (status is None or i.status is status)
                and (starting_after is None or i.id < starting_after)
            ),
            key=lambda i: i.id,
            reverse=True,
        )
        return [copy.deepcopy(i) for i in rows[:limit]]

    async def update(self, intent: PaymentIntent) -> None:
        stored = self._t.payment_intents.get(intent.id)
        if stored is None or stored.version != intent.version:
            raise Conflict(
                "The payment intent was changed concurrently.", reason="CONCURRENT_UPDATE"
            )
        intent.version += 1
        self._t.payment_intents[intent.id] = replace(intent, events=[])


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
        self, merchant_id: str, *, limit: int, starting_after: str | None = None
    ) -> Sequence[ApiKey]:
        rows = sorted(
            (
                k
                for k in self._t.api_keys.values()
                if k.merchant_id == merchant_id
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

    async def record_use(self, key_id: str, at: datetime) -> None:
        key = self._t.api_keys.get(key_id)
        if key is not None:
            key.last_used_at = max(at, key.last_used_at or at)
            key.usage_count += 1


class MemoryUnitOfWork:
    payment_intents: PaymentIntentRepository
    payment_events: PaymentEventLog
    merchants: MerchantRepository
    api_keys: ApiKeyRepository
    ledger: LedgerRepository
    merchant_terms: MerchantTermsRepository
    fx_rates: FxRateStore
    settlements: SettlementRepository
    payouts: PayoutRepository
    disputes: DisputeRepository

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    async def __aenter__(self) -> Self:
        await self._store.lock.acquire()
        self._work = copy.deepcopy(self._store.tables)
        self._rebind()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._store.lock.release()

    async def commit(self) -> None:
        self._store.tables = self._work
        self._work = copy.deepcopy(self._work)
        self._rebind()

    def _rebind(self) -> None:
        self.payment_intents = _PaymentIntents(self._work)
        self.payment_events = _PaymentEvents(self._work)
        self.merchants = _Merchants(self._work)
        self.api_keys = _ApiKeys(self._work)
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
