"""Repositories over one AsyncConnection: SQLAlchemy Core statements, one round trip each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Select, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.tables import (
    api_keys,
    merchants,
    payment_attempts,
    payment_events,
    payment_intents,
    refunds,
)
from core.access.model import ApiKey, KeyType, Merchant
from core.access.roles import Role
from core.payments.model import (
    CONFIRMABLE,
    IN_FLIGHT,
    AttemptStatus,
    CaptureMethod,
    EventKind,
    NextAction,
    PaymentAttempt,
    PaymentError,
    PaymentEvent,
    PaymentIntent,
    Refund,
    RefundStatus,
    Status,
)
from core.shared.errors import AlreadyExists, Conflict

_UNIQUE_VIOLATION = "23505"


def _already_exists(error: IntegrityError, what: str, object_id: str) -> Exception:
    if getattr(error.orig, "sqlstate", None) == _UNIQUE_VIOLATION:
        return AlreadyExists(f"{what} {object_id!r} already exists.")
    return error


# --- payment intents -------------------------------------------------------------------

# Everything a later save may change; id, merchant, livemode, created and the client
# secret are fixed when the intent is created.
_MUTABLE_INTENT_COLUMNS = (
    "amount",
    "currency",
    "status",
    "capture_method",
    "payment_method_types",
    "description",
    "metadata",
    "receipt_email",
    "return_url",
    "success_url",
    "cancel_url",
    "amount_capturable",
    "amount_received",
    "amount_refunded",
    "payment_method",
    "last_payment_error",
    "next_action",
    "attempts",
    "canceled_at",
    "cancellation_reason",
    "latest_attempt",
    "failed_attempts",
    "capture_before",
)


def _intent_values(intent: PaymentIntent) -> dict[str, Any]:
    return {
        "id": intent.id,
        "merchant_id": intent.merchant_id,
        "amount": intent.amount,
        "currency": intent.currency,
        "status": intent.status.value,
        "capture_method": intent.capture_method.value,
        "client_secret": intent.client_secret,
        "livemode": intent.livemode,
        "created": intent.created,
        "payment_method_types": list(intent.payment_method_types),
        "description": intent.description,
        "metadata": dict(intent.metadata),
        "receipt_email": intent.receipt_email,
        "return_url": intent.return_url,
        "success_url": intent.success_url,
        "cancel_url": intent.cancel_url,
        "amount_capturable": intent.amount_capturable,
        "amount_received": intent.amount_received,
        "amount_refunded": intent.amount_refunded,
        "payment_method": intent.payment_method,
        "last_payment_error": (
            asdict(intent.last_payment_error) if intent.last_payment_error else None
        ),
        "next_action": asdict(intent.next_action) if intent.next_action else None,
        "attempts": intent.attempts,
        "canceled_at": intent.canceled_at,
        "cancellation_reason": intent.cancellation_reason,
        "latest_attempt": intent.latest_attempt,
        "failed_attempts": intent.failed_attempts,
        "capture_before": intent.capture_before,
        "version": intent.version,
    }


def _intent(row: RowMapping) -> PaymentIntent:
    error, action = row["last_payment_error"], row["next_action"]
    return PaymentIntent(
        id=row["id"],
        merchant_id=row["merchant_id"],
        amount=row["amount"],
        currency=row["currency"],
        status=Status(row["status"]),
        capture_method=CaptureMethod(row["capture_method"]),
        client_secret=row["client_secret"],
        livemode=row["livemode"],
        created=row["created"],
        payment_method_types=tuple(row["payment_method_types"]),
        description=row["description"],
        metadata=dict(row["metadata"]),
        receipt_email=row["receipt_email"],
        return_url=row["return_url"],
        success_url=row["success_url"],
        cancel_url=row["cancel_url"],
        amount_capturable=row["amount_capturable"],
        amount_received=row["amount_received"],
        amount_refunded=row["amount_refunded"],
        payment_method=row["payment_method"],
        last_payment_error=PaymentError(**error) if error is not None else None,
        next_action=NextAction(**action) if action is not None else None,
        attempts=row["attempts"],
        canceled_at=row["canceled_at"],
        cancellation_reason=row["cancellation_reason"],
        latest_attempt=row["latest_attempt"],
        failed_attempts=row["failed_attempts"],
        capture_before=row["capture_before"],
        version=row["version"],
    )


_INTENT_COLUMNS = [c for c in payment_intents.c if c.name != "updated_at"]


class SqlPaymentIntents:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, intent: PaymentIntent) -> None:
        try:
            await self._conn.execute(insert(payment_intents).values(_intent_values(intent)))
        except IntegrityError as error:
            raise _already_exists(error, "Payment intent", intent.id) from error

    async def get(
        self, merchant_id: str, intent_id: str, *, for_update: bool = False
    ) -> PaymentIntent | None:
        query = select(*_INTENT_COLUMNS).where(
            payment_intents.c.id == intent_id, payment_intents.c.merchant_id == merchant_id
        )
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).mappings().first()
        return _intent(row) if row is not None else None

    async def by_id(self, intent_id: str) -> PaymentIntent | None:
        query = select(*_INTENT_COLUMNS).where(payment_intents.c.id == intent_id)
        row = (await self._conn.execute(query)).mappings().first()
        return _intent(row) if row is not None else None

    async def list(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        status: Status | None = None,
    ) -> Sequence[PaymentIntent]:
        t = payment_intents.c
        query = select(*_INTENT_COLUMNS).where(t.merchant_id == merchant_id)
        if status is not None:
            query = query.where(t.status == status.value)
        if starting_after is not None:
            query = query.where(t.id < starting_after)
        query = query.order_by(t.id.desc()).limit(limit)
        return [_intent(row) for row in (await self._conn.execute(query)).mappings()]

    async def update(self, intent: PaymentIntent) -> None:
        values = _intent_values(intent)
        t = payment_intents.c
        statement = (
            update(payment_intents)
            .where(
                t.id == intent.id,
                t.merchant_id == intent.merchant_id,
                t.version == intent.version,
            )
            .values(
                {name: values[name] for name in _MUTABLE_INTENT_COLUMNS}
                | {"version": t.version + 1, "updated_at": func.now()}
            )
            .returning(t.version)
        )
        new_version = (await self._conn.execute(statement)).scalar_one_or_none()
        if new_version is None:
            raise Conflict(
                "The payment intent was changed concurrently.", reason="CONCURRENT_UPDATE"
            )
        intent.version = new_version

    async def update_many(self, intents: Sequence[PaymentIntent]) -> None:
        if not intents:
            return
        t = payment_intents.c
        # One executemany (asyncpg pipelines it); the rows are locked by this transaction.
        statement = (
            update(payment_intents)
            .where(t.id == bindparam("b_id"))
            .values(version=t.version + 1, updated_at=func.now())
        )
        rows = []
        for intent in intents:
            values = _intent_values(intent)
            rows.append({"b_id": intent.id} | {n: values[n] for n in _MUTABLE_INTENT_COLUMNS})
        await self._conn.execute(statement, rows)
        for intent in intents:
            intent.version += 1

    async def _claim(self, query: Select[Any]) -> Sequence[PaymentIntent]:
        rows = await self._conn.execute(query.with_for_update(skip_locked=True))
        return [_intent(row) for row in rows.mappings()]

    async def claim_unconfirmed(
        self, created_before: datetime, *, limit: int
    ) -> Sequence[PaymentIntent]:
        t = payment_intents.c
        return await self._claim(
            select(*_INTENT_COLUMNS)
            .where(t.status.in_([s.value for s in CONFIRMABLE]), t.created < created_before)
            .order_by(t.created, t.id)
            .limit(limit)
        )

    async def claim_capture_expired(self, now: datetime, *, limit: int) -> Sequence[PaymentIntent]:
        t = payment_intents.c
        return await self._claim(
            select(*_INTENT_COLUMNS)
            .where(t.status == Status.REQUIRES_CAPTURE.value, t.capture_before <= now)
            .order_by(t.capture_before, t.id)
            .limit(limit)
        )


# --- payment events --------------------------------------------------------------------


class SqlPaymentEvents:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def append(self, events: Sequence[PaymentEvent]) -> None:
        if not events:
            return
        # One multi-row INSERT: the identity column keeps the order they were given in.
        await self._conn.execute(
            insert(payment_events).values(
                [
                    {
                        "payment_intent_id": e.payment_intent_id,
                        "merchant_id": e.merchant_id,
                        "from_status": e.from_status.value if e.from_status else None,
                        "to_status": e.to_status.value,
                        "actor": e.actor,
                        "occurred_at": e.occurred_at,
                        "kind": e.kind.value,
                        "object_id": e.object_id,
                        "amount": e.amount,
                    }
                    for e in events
                ]
            )
        )

    async def for_intent(self, merchant_id: str, intent_id: str) -> Sequence[PaymentEvent]:
        t = payment_events.c
        columns = (t.payment_intent_id, t.merchant_id, t.from_status, t.to_status, t.actor)
        query = (
            select(*columns, t.occurred_at, t.kind, t.object_id, t.amount)
            .where(t.merchant_id == merchant_id, t.payment_intent_id == intent_id)
            .order_by(t.id)
        )
        return [
            PaymentEvent(
                payment_intent_id=row.payment_intent_id,
                merchant_id=row.merchant_id,
                from_status=Status(row.from_status) if row.from_status else None,
                to_status=Status(row.to_status),
                actor=row.actor,
                occurred_at=row.occurred_at,
                kind=EventKind(row.kind),
                object_id=row.object_id,
                amount=row.amount,
            )
            for row in await self._conn.execute(query)
        ]


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
        "acquirer_reference": attempt.acquirer_reference,
        "acquirer_code": attempt.acquirer_code,
        "authorization_code": attempt.authorization_code,
        "error": asdict(attempt.error) if attempt.error else None,
        "next_action": asdict(attempt.next_action) if attempt.next_action else None,
        "amount_authorized": attempt.amount_authorized,
        "amount_captured": attempt.amount_captured,
        "amount_to_capture": attempt.amount_to_capture,
        "capture_reference": attempt.capture_reference,
        "captures": attempt.captures,
        "authorized_at": attempt.authorized_at,
        "created": attempt.created,
        "updated_at": attempt.updated_at,
        "version": attempt.version,
    }


# Fixed at creation: who, what for, how much, and where it goes.
_FIXED_ATTEMPT_COLUMNS = frozenset(
    {"id", "merchant_id", "payment_intent_id", "amount", "currency", "payment_method_type",
     "acquirer", "created", "version"}
)  # fmt: skip


def _attempt(row: RowMapping) -> PaymentAttempt:
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
        authorized_at=row["authorized_at"],
        version=row["version"],
    )


def _constraint_of(error: IntegrityError) -> str:
    cause = getattr(error.orig, "__cause__", None)
    return str(getattr(cause, "constraint_name", "") or "")


class SqlPaymentAttempts:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, attempt: PaymentAttempt) -> None:
        try:
            await self._conn.execute(insert(payment_attempts).values(_attempt_values(attempt)))
        except IntegrityError as error:
            if _constraint_of(error) == "uq_payment_attempts_payment_intent_id_active":
                raise Conflict(
                    f"Payment intent {attempt.payment_intent_id} already has an attempt in "
                    "progress.",
                    reason="ATTEMPT_IN_PROGRESS",
                ) from error
            raise _already_exists(error, "Payment attempt", attempt.id) from error

    async def get(self, attempt_id: str, *, for_update: bool = False) -> PaymentAttempt | None:
        query = select(payment_attempts).where(payment_attempts.c.id == attempt_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).mappings().first()
        return _attempt(row) if row is not None else None

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
        t = payment_attempts.c
        statement = (
            update(payment_attempts)
            .where(t.id == attempt.id, t.version == attempt.version)
            .values(
                {k: v for k, v in values.items() if k not in _FIXED_ATTEMPT_COLUMNS}
                | {"version": t.version + 1}
            )
            .returning(t.version)
        )
        new_version = (await self._conn.execute(statement)).scalar_one_or_none()
        if new_version is None:
            raise Conflict(
                "The payment attempt was changed concurrently.", reason="CONCURRENT_UPDATE"
            )
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
        self, payment_method_type: str, updated_before: datetime, now: datetime, *, limit: int
    ) -> Sequence[PaymentAttempt]:
        t = payment_attempts.c
        # Like claim_in_flight, over ix_payment_attempts_awaiting_action.
        picked = (
            select(t.id)
            .where(
                t.status == AttemptStatus.REQUIRES_ACTION.value,
                t.payment_method_type == payment_method_type,
                t.updated_at < updated_before,
            )
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


# --- refunds ---------------------------------------------------------------------------


def _refund(row: RowMapping) -> Refund:
    return Refund(
        id=row["id"],
        merchant_id=row["merchant_id"],
        payment_intent_id=row["payment_intent_id"],
        attempt_id=row["attempt_id"],
        amount=row["amount"],
        currency=row["currency"],
        status=RefundStatus(row["status"]),
        created=row["created"],
        updated_at=row["updated_at"],
        reason=row["reason"],
        acquirer_reference=row["acquirer_reference"],
        failure_code=row["failure_code"],
        version=row["version"],
    )


class SqlRefunds:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, refund: Refund) -> None:
        try:
            await self._conn.execute(
                insert(refunds).values(
                    id=refund.id,
                    merchant_id=refund.merchant_id,
                    payment_intent_id=refund.payment_intent_id,
                    attempt_id=refund.attempt_id,
                    amount=refund.amount,
                    currency=refund.currency,
                    status=refund.status.value,
                    reason=refund.reason,
                    acquirer_reference=refund.acquirer_reference,
                    failure_code=refund.failure_code,
                    created=refund.created,
                    updated_at=refund.updated_at,
                    version=refund.version,
                )
            )
        except IntegrityError as error:
            raise _already_exists(error, "Refund", refund.id) from error

    async def get(
        self, merchant_id: str, refund_id: str, *, for_update: bool = False
    ) -> Refund | None:
        t = refunds.c
        query = select(refunds).where(t.id == refund_id, t.merchant_id == merchant_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).mappings().first()
        return _refund(row) if row is not None else None

    async def list(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        payment_intent_id: str | None = None,
    ) -> Sequence[Refund]:
        t = refunds.c
        query = select(refunds).where(t.merchant_id == merchant_id)
        if payment_intent_id is not None:
            query = query.where(t.payment_intent_id == payment_intent_id)
        if starting_after is not None:
            query = query.where(t.id < starting_after)
        query = query.order_by(t.id.desc()).limit(limit)
        return [_refund(row) for row in (await self._conn.execute(query)).mappings()]

    async def update(self, refund: Refund) -> None:
        t = refunds.c
        statement = (
            update(refunds)
            .where(t.id == refund.id, t.version == refund.version)
            .values(
                status=refund.status.value,
                acquirer_reference=refund.acquirer_reference,
                failure_code=refund.failure_code,
                updated_at=refund.updated_at,
                version=t.version + 1,
            )
            .returning(t.version)
        )
        new_version = (await self._conn.execute(statement)).scalar_one_or_none()
        if new_version is None:
            raise Conflict("The refund was changed concurrently.", reason="CONCURRENT_UPDATE")
        refund.version = new_version

    async def claim_pending(
        self, updated_before: datetime, now: datetime, *, limit: int
    ) -> Sequence[Refund]:
        t = refunds.c
        picked = (
            select(t.id)
            .where(t.status == RefundStatus.PENDING.value, t.updated_at < updated_before)
            .order_by(t.updated_at, t.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(refunds)
            .where(t.id.in_(picked.scalar_subquery()))
            .values(updated_at=now, version=t.version + 1)
            .returning(refunds)
        )
        rows = (await self._conn.execute(statement)).mappings()
        return sorted((_refund(row) for row in rows), key=lambda r: r.id)


# --- merchants and API keys ------------------------------------------------------------


class SqlMerchants:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, merchant: Merchant) -> None:
        try:
            await self._conn.execute(
                insert(merchants).values(
                    id=merchant.id, name=merchant.name, created=merchant.created
                )
            )
        except IntegrityError as error:
            raise _already_exists(error, "Merchant", merchant.id) from error

    async def get(self, merchant_id: str) -> Merchant | None:
        row = (
            await self._conn.execute(select(merchants).where(merchants.c.id == merchant_id))
        ).first()
        return Merchant(id=row.id, name=row.name, created=row.created) if row else None


def _api_key(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        merchant_id=row["merchant_id"],
        type=KeyType(row["type"]),
        role=Role(row["role"]) if row["role"] is not None else None,
        livemode=row["livemode"],
        lookup=row["lookup"],
        last4=row["last4"],
        secret_hash=bytes(row["secret_hash"]),
        created=row["created"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
        usage_count=row["usage_count"],
        expires_at=row["expires_at"],
        publishable_key=row["publishable_key"] or "",
    )


class SqlApiKeys:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def _select(self, query: Select[Any]) -> list[ApiKey]:
        return [_api_key(row) for row in (await self._conn.execute(query)).mappings()]

    async def add(self, key: ApiKey) -> None:
        try:
            await self._conn.execute(
                insert(api_keys).values(
                    id=key.id,
                    merchant_id=key.merchant_id,
                    type=key.type.value,
                    role=key.role.value if key.role is not None else None,
                    livemode=key.livemode,
                    lookup=key.lookup,
                    last4=key.last4,
                    secret_hash=key.secret_hash,
                    created=key.created,
                    revoked_at=key.revoked_at,
                    last_used_at=key.last_used_at,
                    usage_count=key.usage_count,
                    expires_at=key.expires_at,
                    publishable_key=key.publishable_key or None,
                )
            )
        except IntegrityError as error:
            raise _already_exists(error, "API key", key.id) from error

    async def by_lookup(self, lookup: str) -> Sequence[ApiKey]:
        return await self._select(select(api_keys).where(api_keys.c.lookup == lookup))

    async def get(self, merchant_id: str, key_id: str) -> ApiKey | None:
        rows = await self._select(
            select(api_keys).where(api_keys.c.id == key_id, api_keys.c.merchant_id == merchant_id)
        )
        return rows[0] if rows else None

    async def list(
        self, merchant_id: str, *, limit: int, starting_after: str | None = None
    ) -> Sequence[ApiKey]:
        query = select(api_keys).where(api_keys.c.merchant_id == merchant_id)
        if starting_after is not None:
            query = query.where(api_keys.c.id < starting_after)
        return await self._select(query.order_by(api_keys.c.id.desc()).limit(limit))

    async def revoke(self, merchant_id: str, key_id: str, at: datetime) -> None:
        t = api_keys.c
        await self._conn.execute(
            update(api_keys)
            .where(t.id == key_id, t.merchant_id == merchant_id, t.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    async def expire(self, merchant_id: str, key_id: str, at: datetime) -> None:
        t = api_keys.c
        await self._conn.execute(
            update(api_keys)
            .where(t.id == key_id, t.merchant_id == merchant_id, t.revoked_at.is_(None))
            .values(expires_at=at)
        )

    async def record_use(self, key_id: str, at: datetime) -> None:
        # GREATEST ignores NULL, and keeps last_used_at from moving backwards when two
        # requests with the same key commit out of order.
        t = api_keys.c
        await self._conn.execute(
            update(api_keys)
            .where(t.id == key_id)
            .values(last_used_at=func.greatest(t.last_used_at, at), usage_count=t.usage_count + 1)
        )
