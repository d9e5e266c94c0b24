"""Repositories over one AsyncConnection: SQLAlchemy Core statements, one round trip each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Select, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.tables import api_keys, merchants, payment_events, payment_intents
from core.access.model import ApiKey, KeyType, Merchant
from core.access.roles import Role
from core.payments.model import (
    CaptureMethod,
    NextAction,
    PaymentError,
    PaymentEvent,
    PaymentIntent,
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
    "amount_capturable",
    "amount_received",
    "amount_refunded",
    "payment_method",
    "last_payment_error",
    "next_action",
    "attempts",
    "canceled_at",
    "cancellation_reason",
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
        amount_capturable=row["amount_capturable"],
        amount_received=row["amount_received"],
        amount_refunded=row["amount_refunded"],
        payment_method=row["payment_method"],
        last_payment_error=PaymentError(**error) if error is not None else None,
        next_action=NextAction(**action) if action is not None else None,
        attempts=row["attempts"],
        canceled_at=row["canceled_at"],
        cancellation_reason=row["cancellation_reason"],
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
                    }
                    for e in events
                ]
            )
        )

    async def for_intent(self, merchant_id: str, intent_id: str) -> Sequence[PaymentEvent]:
        t = payment_events.c
        columns = (t.payment_intent_id, t.merchant_id, t.from_status, t.to_status, t.actor)
        query = (
            select(*columns, t.occurred_at)
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
            )
            for row in await self._conn.execute(query)
        ]


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
