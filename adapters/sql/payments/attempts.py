"""Payment attempts on PostgreSQL: at most one active attempt per intent (a partial unique
index), found again by reference when the acquirer's answer was lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Integer, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.errors import already_exists, constraint_of
from adapters.sql.held import hold
from adapters.sql.payments.intents import INTENT_COLUMNS, intent_of
from adapters.sql.payments.with_intent import WrittenWithIntent
from adapters.sql.risk import assessment_json, assessment_of
from adapters.sql.tables import (
    payment_attempts,
    payment_intents,
)
from core.payments.model import (
    IN_FLIGHT,
    AttemptStatus,
    NextAction,
    PaymentAttempt,
    PaymentError,
    PaymentEvent,
    PaymentIntent,
)
from core.shared.errors import Conflict, VersionMoved

# --- payment attempts ------------------------------------------------------------------


def _attempt_values(attempt: PaymentAttempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "merchant_id": attempt.merchant_id,
        "payment_intent_id": attempt.payment_intent_id,
        "amount": attempt.amount,
        "currency": attempt.currency,
        "status": attempt.status.value,
        "payment_method_type": attempt.payment_method_type,
        "acquirer": attempt.acquirer,
        "payment_method": attempt.payment_method,
        "card_brand": attempt.card_brand,
        "card_last4": attempt.card_last4,
        "card_fingerprint": attempt.card_fingerprint,
        "upi_vpa": attempt.upi_vpa,
        "wallet_provider": attempt.wallet_provider or None,
        "netbanking_bank": attempt.netbanking_bank or None,
        "acquirer_reference": attempt.acquirer_reference,
        "acquirer_code": attempt.acquirer_code,
        "authorization_code": attempt.authorization_code,
        "error": asdict(attempt.error) if attempt.error else None,
        "decline_code": attempt.decline_code,
        "next_action": asdict(attempt.next_action) if attempt.next_action else None,
        "amount_authorized": attempt.amount_authorized,
        "amount_captured": attempt.amount_captured,
        "amount_to_capture": attempt.amount_to_capture,
        "capture_reference": attempt.capture_reference,
        "captures": attempt.captures,
        "route": attempt.route,
        "tries": [dict(t) for t in attempt.tries],
        "authorized_at": attempt.authorized_at,
        "risk": assessment_json(attempt.risk),
        "created": attempt.created,
        "updated_at": attempt.updated_at,
        "version": attempt.version,
        "livemode": attempt.livemode,
    }


# Fixed at creation: who, what for, how much. (`acquirer` moves on a failover.)
_FIXED_ATTEMPT_COLUMNS = frozenset(
    {"id", "merchant_id", "payment_intent_id", "amount", "currency", "payment_method_type",
     "created", "version", "risk", "livemode", "wallet_provider", "netbanking_bank"}
)  # fmt: skip


def _attempt(row: Mapping[Any, Any]) -> PaymentAttempt:
    error, action = row["error"], row["next_action"]
    return PaymentAttempt(
        id=row["id"],
        merchant_id=row["merchant_id"],
        payment_intent_id=row["payment_intent_id"],
        amount=row["amount"],
        currency=row["currency"],
        status=AttemptStatus(row["status"]),
        payment_method_type=row["payment_method_type"],
        acquirer=row["acquirer"],
        created=row["created"],
        updated_at=row["updated_at"],
        payment_method=row["payment_method"],
        card_brand=row["card_brand"],
        card_last4=row["card_last4"],
        card_fingerprint=row["card_fingerprint"],
        upi_vpa=row["upi_vpa"],
        wallet_provider=row["wallet_provider"] or "",
        netbanking_bank=row["netbanking_bank"] or "",
        acquirer_reference=row["acquirer_reference"],
        acquirer_code=row["acquirer_code"],
        authorization_code=row["authorization_code"],
        error=PaymentError(**error) if error is not None else None,
        next_action=NextAction(**action) if action is not None else None,
        amount_authorized=row["amount_authorized"],
        amount_captured=row["amount_captured"],
        amount_to_capture=row["amount_to_capture"],
        capture_reference=row["capture_reference"],
        captures=row["captures"],
        route=row["route"],
        tries=[dict(t) for t in row["tries"]],
        authorized_at=row["authorized_at"],
        risk=assessment_of(row["risk"]),
        version=row["version"],
        livemode=row["livemode"],
    )


# Built once: SQLAlchemy reuses its cache key and compiled form on every call.
_GET = select(payment_attempts).where(payment_attempts.c.id == bindparam("attempt_id"))
_GET_FOR_UPDATE = _GET.with_for_update()
# The attempt with its intent, both locked, in one round trip. PostgreSQL locks a joined
# row's tables in the order of the FROM list: the intent, then the attempt, the lock
# order of every flow.
_LOCKED_PAIR = (
    select(*INTENT_COLUMNS, *(c.label(f"a__{c.name}") for c in payment_attempts.c))
    .select_from(
        payment_intents.join(
            payment_attempts, payment_attempts.c.payment_intent_id == payment_intents.c.id
        )
    )
    .where(
        payment_attempts.c.id == bindparam("attempt_id"),
        payment_intents.c.merchant_id == bindparam("merchant_id"),
    )
    .with_for_update(of=[payment_intents, payment_attempts])
)
# Run with a row of parameters: compiled once for that set of columns.
_INSERT = insert(payment_attempts)
# The optimistic update of every mutable column (the version must not have moved).
_MUTABLE_ATTEMPT_COLUMNS = [
    c.name for c in payment_attempts.c if c.name not in _FIXED_ATTEMPT_COLUMNS
]
_UPDATE = (
    update(payment_attempts)
    .where(
        payment_attempts.c.id == bindparam("b_id"),
        payment_attempts.c.version == bindparam("b_version"),
    )
    .values(
        {name: bindparam(f"v_{name}") for name in _MUTABLE_ATTEMPT_COLUMNS}
        | {"version": payment_attempts.c.version + 1}
    )
    .returning(payment_attempts.c.version)
)


# Confirm's phase 1 and every phase 3 write the attempt with its intent and the intent's
# history lines: one statement (with_intent.py).
_WITH_INTENT = WrittenWithIntent(payment_attempts, _MUTABLE_ATTEMPT_COLUMNS)


# The poller's claim, every 2 s: built once. Like claim_in_flight, over
# ix_payment_attempts_awaiting_action (payment_method_type, updated_at).
_AWAITING = (
    select(payment_attempts.c.id)
    .where(
        payment_attempts.c.status == AttemptStatus.REQUIRES_ACTION.value,
        payment_attempts.c.payment_method_type.in_(bindparam("types", expanding=True)),
        payment_attempts.c.updated_at < bindparam("updated_before"),
    )
    .order_by(payment_attempts.c.updated_at, payment_attempts.c.id)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
)
_CLAIM_AWAITING_ACTION = (
    update(payment_attempts)
    .where(payment_attempts.c.id.in_(_AWAITING.scalar_subquery()))
    .values(
        updated_at=bindparam("lease_now", type_=payment_attempts.c.updated_at.type),
        version=payment_attempts.c.version + 1,
    )
    .returning(payment_attempts)
)


def _not_added(error: IntegrityError, attempt: PaymentAttempt) -> Exception:
    if constraint_of(error) == "uq_payment_attempts_payment_intent_id_active":
        return Conflict(
            f"Payment intent {attempt.payment_intent_id} already has an attempt in progress.",
            reason="ATTEMPT_IN_PROGRESS",
        )
    return already_exists(error, "Payment attempt", attempt.id)


def _attempt_changed() -> VersionMoved:
    return VersionMoved("The payment attempt was changed concurrently.")


class SqlPaymentAttempts:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, attempt: PaymentAttempt) -> None:
        try:
            await self._conn.execute(_INSERT, _attempt_values(attempt))
        except IntegrityError as error:
            raise _not_added(error, attempt) from error

    async def add_with_intent(
        self, attempt: PaymentAttempt, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()
    ) -> None:
        values = _attempt_values(attempt)
        if events:  # held back: confirm's phase 1, one statement (adapters/sql/held.py)
            failed = partial(_not_added, attempt=attempt)
            held = _WITH_INTENT.held_add(values, intent, events, failed)
            if not hold(self._conn, held):
                await held.send(self._conn)
            return
        try:
            await _WITH_INTENT.add(self._conn, values, intent, events)
        except IntegrityError as error:
            raise _not_added(error, attempt) from error

    async def update_with_intent(
        self, attempt: PaymentAttempt, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()
    ) -> None:
        values = _attempt_values(attempt)

        def wrote(version: int) -> None:
            attempt.version = version

        held = _WITH_INTENT.held_update(values, intent, events, _attempt_changed, wrote)
        if not hold(self._conn, held):
            await held.send(self._conn)

    async def get(self, attempt_id: str, *, for_update: bool = False) -> PaymentAttempt | None:
        query = _GET_FOR_UPDATE if for_update else _GET
        row = (await self._conn.execute(query, {"attempt_id": attempt_id})).mappings().first()
        return _attempt(row) if row is not None else None

    async def locked_with_intent(
        self, merchant_id: str, attempt_id: str
    ) -> tuple[PaymentIntent, PaymentAttempt] | None:
        params = {"attempt_id": attempt_id, "merchant_id": merchant_id}
        row = (await self._conn.execute(_LOCKED_PAIR, params)).mappings().first()
        if row is None:
            return None
        attempt = {k[3:]: v for k, v in row.items() if k.startswith("a__")}
        return intent_of(row), _attempt(attempt)

    async def get_many(
        self, attempt_ids: Sequence[str], *, for_update: bool = False
    ) -> Sequence[PaymentAttempt]:
        if not attempt_ids:
            return []
        t = payment_attempts.c
        # Locked in id order, as every batch does, so two batches cannot deadlock.
        query = select(payment_attempts).where(t.id.in_(list(attempt_ids))).order_by(t.id)
        if for_update:
            query = query.with_for_update()
        return [_attempt(row) for row in (await self._conn.execute(query)).mappings()]

    async def for_intent(self, merchant_id: str, intent_id: str) -> Sequence[PaymentAttempt]:
        t = payment_attempts.c
        query = (
            select(payment_attempts)
            .where(t.merchant_id == merchant_id, t.payment_intent_id == intent_id)
            .order_by(t.id)
        )
        return [_attempt(row) for row in (await self._conn.execute(query)).mappings()]

    async def update(self, attempt: PaymentAttempt) -> None:
        values = _attempt_values(attempt)
        params = {f"v_{k}": v for k, v in values.items() if k not in _FIXED_ATTEMPT_COLUMNS}
        params |= {"b_id": attempt.id, "b_version": attempt.version}
        new_version = (await self._conn.execute(_UPDATE, params)).scalar_one_or_none()
        if new_version is None:
            raise _attempt_changed()
        attempt.version = new_version

    async def update_many(self, attempts: Sequence[PaymentAttempt]) -> None:
        if not attempts:
            return
        t = payment_attempts.c
        statement = (
            update(payment_attempts).where(t.id == bindparam("b_id")).values(version=t.version + 1)
        )
        rows = []
        for attempt in attempts:
            values = _attempt_values(attempt)
            rows.append(
                {"b_id": attempt.id}
                | {k: v for k, v in values.items() if k not in _FIXED_ATTEMPT_COLUMNS}
            )
        await self._conn.execute(statement, rows)
        for attempt in attempts:
            attempt.version += 1

    async def claim_in_flight(
        self, updated_before: datetime, now: datetime, *, limit: int
    ) -> Sequence[PaymentAttempt]:
        t = payment_attempts.c
        # The queue pattern in one round trip: pick with SKIP LOCKED, lease, return.
        picked = (
            select(t.id)
            .where(t.status.in_([s.value for s in IN_FLIGHT]), t.updated_at < updated_before)
            .order_by(t.updated_at, t.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(payment_attempts)
            .where(t.id.in_(picked.scalar_subquery()))
            .values(updated_at=now, version=t.version + 1)
            .returning(payment_attempts)
        )
        rows = (await self._conn.execute(statement)).mappings()
        return sorted((_attempt(row) for row in rows), key=lambda a: a.id)

    async def claim_awaiting_action(
        self,
        payment_method_types: Sequence[str],
        updated_before: datetime,
        now: datetime,
        *,
        limit: int,
    ) -> Sequence[PaymentAttempt]:
        params = {
            "types": list(payment_method_types),
            "updated_before": updated_before,
            "lease_now": now,
            "limit": limit,
        }
        rows = (await self._conn.execute(_CLAIM_AWAITING_ACTION, params)).mappings()
        return sorted((_attempt(row) for row in rows), key=lambda a: a.id)
