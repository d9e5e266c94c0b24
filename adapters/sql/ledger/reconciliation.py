"""ReconciliationSource on PostgreSQL: the ledger and the payments, read in one snapshot.

`paygate reconcile` opens a REPEATABLE READ, READ ONLY transaction so that the ledger and
the payment records it compares are the same moment's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Text

from adapters.sql.ledger.journal import SqlLedger
from adapters.sql.tables import ledger_entries, payment_attempts, payment_events, payment_intents
from core.ledger.model import JournalEntry
from core.ledger.reconciliation import PaymentRecord
from core.payments.model import Status

# The acquirer that holds a payment's money: its latest attempt's (after a failover, the
# last one sent to).
_HOLDER = (
    select(payment_attempts.c.acquirer)
    .where(
        payment_attempts.c.id == payment_intents.c.latest_attempt,
        payment_attempts.c.merchant_id == payment_intents.c.merchant_id,
    )
    .scalar_subquery()
)

_COLUMNS = (
    payment_intents.c.merchant_id,
    payment_intents.c.id,
    payment_intents.c.currency,
    payment_intents.c.amount_received,
    payment_intents.c.amount_refunded,
    func.coalesce(_HOLDER, ""),
)


def _pairs(keys: Sequence[tuple[str, str]]) -> Any:
    """(merchant_id, payment_intent_id) pairs as two array parameters zipped by unnest:
    two parameters however many payments a day has (asyncpg takes at most 32767)."""
    merchants = bindparam("merchants", [m for m, _ in keys], type_=ARRAY(Text))
    intents = bindparam("intents", [i for _, i in keys], type_=ARRAY(Text))
    return select(func.unnest(merchants), func.unnest(intents))


class SqlReconciliationSource:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection
        self._ledger = SqlLedger(connection)

    async def entries_created_between(
        self, start: datetime, end: datetime
    ) -> Sequence[JournalEntry]:
        return await self._ledger.entries_created_between(start, end)

    async def payments_succeeded_between(
        self, start: datetime, end: datetime
    ) -> Sequence[PaymentRecord]:
        e = payment_events.c
        succeeded = exists().where(
            e.payment_intent_id == payment_intents.c.id,
            e.to_status == Status.SUCCEEDED.value,
            e.occurred_at >= start,
            e.occurred_at < end,
        )
        rows = await self._conn.execute(select(*_COLUMNS).where(succeeded))
        return [PaymentRecord(*row) for row in rows]

    async def payments(self, keys: Sequence[tuple[str, str]]) -> Sequence[PaymentRecord]:
        if not keys:
            return []
        rows = await self._conn.execute(
            select(*_COLUMNS).where(
                tuple_(payment_intents.c.merchant_id, payment_intents.c.id).in_(_pairs(keys))
            )
        )
        return [PaymentRecord(*row) for row in rows]

    async def entries_for_payments(self, keys: Sequence[tuple[str, str]]) -> Sequence[JournalEntry]:
        if not keys:
            return []
        c = ledger_entries.c
        return await self._ledger.entries_where(
            tuple_(c.merchant_id, c.payment_intent_id).in_(_pairs(keys))
        )
