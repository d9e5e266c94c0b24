"""ReconciliationSource over the in-memory store (for core tests)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.ledger.model import JournalEntry
from core.ledger.reconciliation import PaymentRecord
from core.payments.model import PaymentIntent, Status
from tests.fakes.unit_of_work import MemoryStore


def _record(intent: PaymentIntent) -> PaymentRecord:
    return PaymentRecord(
        intent.merchant_id, intent.id, intent.currency, intent.amount_received,
        intent.amount_refunded,
    )  # fmt: skip


class MemoryReconciliationSource:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    async def entries_created_between(
        self, start: datetime, end: datetime
    ) -> Sequence[JournalEntry]:
        entries = self._store.tables.ledger.entries.values()
        return sorted((e for e in entries if start <= e.created < end), key=lambda e: e.id)

    async def payments_succeeded_between(
        self, start: datetime, end: datetime
    ) -> Sequence[PaymentRecord]:
        tables = self._store.tables
        ids = {
            (e.merchant_id, e.payment_intent_id)
            for e in tables.payment_events
            if e.to_status is Status.SUCCEEDED and start <= e.occurred_at < end
        }
        return [_record(i) for i in tables.payment_intents.values() if (i.merchant_id, i.id) in ids]

    async def payments(self, keys: Sequence[tuple[str, str]]) -> Sequence[PaymentRecord]:
        wanted = set(keys)
        intents = self._store.tables.payment_intents.values()
        return [_record(i) for i in intents if (i.merchant_id, i.id) in wanted]

    async def entries_for_payments(self, keys: Sequence[tuple[str, str]]) -> Sequence[JournalEntry]:
        wanted = set(keys)
        entries = self._store.tables.ledger.entries.values()
        return [e for e in entries if (e.merchant_id, e.payment_intent_id) in wanted]
