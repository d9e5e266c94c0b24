"""The vault's repositories over one AsyncConnection (SQLAlchemy Core, one round trip each)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Table,
    Update,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.driver_read import DriverRead, first
from adapters.sql.vault.tables import data_keys, detokenization_audit, payment_methods, tokens
from core.shared.errors import AlreadyExists, Conflict
from core.vault.model import (
    Brand,
    CardSummary,
    DataKey,
    DetokenizationOutcome,
    DetokenizationRecord,
    EncryptedCard,
    Funding,
    PaymentMethod,
    PaymentMethodStatus,
    Token,
    TokenStatus,
)

_UNIQUE_VIOLATION = "23505"


def _is_unique_violation(error: IntegrityError, constraint: str | None = None) -> bool:
    orig = error.orig
    if getattr(orig, "sqlstate", None) != _UNIQUE_VIOLATION:
        return False
    if constraint is None:
        return True
    # asyncpg's exception (wrapped by SQLAlchemy's adapter) names the violated constraint.
    cause = getattr(orig, "__cause__", None)
    return getattr(cause, "constraint_name", None) == constraint or constraint in str(orig)


# --- card summary and sealed card columns (shared by tokens and payment methods) ------


def _summary_values(card: CardSummary) -> dict[str, Any]:
    return {
        "brand": card.brand.value,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "fingerprint": card.fingerprint,
        "funding": card.funding.value,
        "country": card.country,
    }


def _summary(row: RowMapping) -> CardSummary:
    return CardSummary(
        brand=Brand(row["brand"]),
        last4=row["last4"],
        exp_month=row["exp_month"],
        exp_year=row["exp_year"],
        fingerprint=row["fingerprint"],
        funding=Funding(row["funding"]),
        country=row["country"],
    )


def _sealed_values(sealed: EncryptedCard | None) -> dict[str, Any]:
    if sealed is None:
        return {"ciphertext": None, "key_id": None, "key_version": None}
    return {
        "ciphertext": sealed.ciphertext,
        "key_id": sealed.key_id,
        "key_version": sealed.key_version,
    }


def _sealed(row: RowMapping) -> EncryptedCard | None:
    if row["ciphertext"] is None:
        return None
    return EncryptedCard(bytes(row["ciphertext"]), row["key_id"], row["key_version"])


@functools.lru_cache(maxsize=8)
def _versioned_update(table: Table, columns: tuple[str, ...]) -> Update:
    """Built once per table and set of columns (a token's single use runs it on every
    payment): a reused statement object costs no construction and no cache-key walk."""
    c = table.c
    return (
        update(table)
        .where(
            c.id == bindparam("w_id"),
            c.merchant_id == bindparam("w_merchant_id"),
            c.version == bindparam("w_version"),
        )
        .values({name: bindparam(f"v_{name}") for name in columns} | {"version": c.version + 1})
        .returning(c.version)
    )


async def _save_versioned(
    conn: AsyncConnection, table: Table, record: Token | PaymentMethod, values: dict[str, Any]
) -> None:
    """UPDATE ... WHERE version = :seen; Conflict when another transaction saved it first."""
    statement = _versioned_update(table, tuple(values))
    params = {f"v_{name}": value for name, value in values.items()}
    params |= {"w_id": record.id, "w_merchant_id": record.merchant_id, "w_version": record.version}
    new_version = (await conn.execute(statement, params)).scalar_one_or_none()
    if new_version is None:
        raise Conflict(f"{record.id} was changed concurrently.", reason="CONCURRENT_UPDATE")
    record.version = new_version


def _under_other_keys(table: Table, merchant_id: str, current_key_id: str) -> ColumnElement[bool]:
    c = table.c
    # The partial index (merchant_id, key_id) WHERE ciphertext IS NOT NULL answers this.
    return (c.merchant_id == merchant_id) & c.ciphertext.is_not(None) & (c.key_id != current_key_id)


# --- the detokenization audit's rows (written by SqlDetokenizations and a token's use) --

# Every column but the identity: what a record sets.
_RECORD_COLUMNS = tuple(c.name for c in detokenization_audit.c if not c.primary_key)


def _record_values(record: DetokenizationRecord) -> dict[str, Any]:
    return {
        "merchant_id": record.merchant_id,
        "payment_method": record.payment_method,
        "actor": record.actor,
        "purpose": record.purpose,
        "outcome": record.outcome.value,
        "reason": record.reason,
        "occurred_at": record.occurred_at,
    }


# --- tokens ----------------------------------------------------------------------------


def _token(row: RowMapping) -> Token:
    return Token(
        id=row["id"],
        merchant_id=row["merchant_id"],
        livemode=row["livemode"],
        card=_summary(row),
        encrypted_card=_sealed(row),
        status=TokenStatus(row["status"]),
        created=row["created"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        version=row["version"],
    )


# Every payment reads its token twice and inserts it once: built once (a statement object
# keeps its SQLAlchemy cache key), run with parameters.
_TOKEN = select(tokens).where(
    tokens.c.id == bindparam("token_id"), tokens.c.merchant_id == bindparam("merchant_id")
)
_TOKEN_FOR_UPDATE = _TOKEN.with_for_update()
# The card's profile before a payment's phase 1, outside any transaction: run by the
# driver itself (adapters/sql/driver_read.py).
_TOKEN_READ = DriverRead(_TOKEN)
_INSERT_TOKEN = insert(tokens)


def _token_changes(token: Token) -> dict[str, Any]:
    """The columns a token's update writes (status, card, time of use)."""
    return {
        "status": token.status.value,
        **_sealed_values(token.encrypted_card),
        "used_at": token.used_at,
    }


@functools.lru_cache(maxsize=2)
def _use_token(columns: tuple[str, ...]) -> Any:
    """A token's single use in one statement (every card payment by token runs it): the
    token's versioned update is a CTE and the grant's audit row is inserted from its
    result, so the row is written only when the update matched (the version had not
    moved); the statement returns the token's new version, or no row on a conflict.
    Every decision (expired, used, another merchant's) was the vault's, before it.

    An INSERT at the top, not a SELECT with a writing CTE: the unit of work begins its
    transaction before any statement but a plain SELECT (LazyTransaction)."""
    used = _versioned_update(tokens, columns).cte("used")
    a = detokenization_audit.c
    return (
        insert(detokenization_audit)
        .from_select(
            list(_RECORD_COLUMNS),
            select(
                *(bindparam(f"a_{name}", type_=a[name].type) for name in _RECORD_COLUMNS)
            ).select_from(used),
        )
        .returning(select(used.c.version).scalar_subquery())
    )


class SqlTokens:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, token: Token) -> None:
        values = {
            "id": token.id,
            "merchant_id": token.merchant_id,
            "livemode": token.livemode,
            **_summary_values(token.card),
            **_sealed_values(token.encrypted_card),
            "status": token.status.value,
            "created": token.created,
            "expires_at": token.expires_at,
            "used_at": token.used_at,
            "version": token.version,
        }
        try:
            await self._conn.execute(_INSERT_TOKEN, values)
        except IntegrityError as error:
            if _is_unique_violation(error):
                raise AlreadyExists(f"Token {token.id!r} already exists.") from error
            raise

    async def get(
        self, merchant_id: str, token_id: str, *, for_update: bool = False
    ) -> Token | None:
        params = {"token_id": token_id, "merchant_id": merchant_id}
        if for_update:
            row = (await self._conn.execute(_TOKEN_FOR_UPDATE, params)).mappings().first()
        else:
            row = await first(self._conn, _TOKEN_READ, params)
        return _token(row) if row is not None else None

    async def update(self, token: Token) -> None:
        await _save_versioned(self._conn, tokens, token, _token_changes(token))

    async def use(self, token: Token, grant: DetokenizationRecord) -> None:
        changes = _token_changes(token)
        params = {f"v_{name}": value for name, value in changes.items()}
        params |= {"w_id": token.id, "w_merchant_id": token.merchant_id}
        params |= {"w_version": token.version}
        params |= {f"a_{name}": value for name, value in _record_values(grant).items()}
        statement = _use_token(tuple(changes))
        new_version = (await self._conn.execute(statement, params)).scalar_one_or_none()
        if new_version is None:
            raise Conflict(f"{token.id} was changed concurrently.", reason="CONCURRENT_UPDATE")
        token.version = new_version

    async def expired(self, now: datetime, *, limit: int) -> Sequence[Token]:
        c = tokens.c
        query = (
            select(tokens)
            .where(c.status == TokenStatus.ACTIVE.value, c.expires_at <= now)
            .order_by(c.expires_at, c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_token(row) for row in (await self._conn.execute(query)).mappings()]

    async def sealed_under_other_keys(
        self, merchant_id: str, current_key_id: str, *, limit: int
    ) -> Sequence[Token]:
        query = (
            select(tokens)
            .where(_under_other_keys(tokens, merchant_id, current_key_id))
            .order_by(tokens.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_token(row) for row in (await self._conn.execute(query)).mappings()]

    async def count_sealed_under_other_keys(self, merchant_id: str, current_key_id: str) -> int:
        query = select(func.count()).where(_under_other_keys(tokens, merchant_id, current_key_id))
        count: int = (await self._conn.execute(query)).scalar_one()
        return count


# --- payment methods -------------------------------------------------------------------


def _method(row: RowMapping) -> PaymentMethod:
    return PaymentMethod(
        id=row["id"],
        merchant_id=row["merchant_id"],
        livemode=row["livemode"],
        card=_summary(row),
        encrypted_card=_sealed(row),
        created=row["created"],
        customer_id=row["customer_id"],
        status=PaymentMethodStatus(row["status"]),
        revoked_at=row["revoked_at"],
        version=row["version"],
    )


class SqlPaymentMethods:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, method: PaymentMethod) -> None:
        values = {
            "id": method.id,
            "merchant_id": method.merchant_id,
            "livemode": method.livemode,
            "customer_id": method.customer_id,
            **_summary_values(method.card),
            **_sealed_values(method.encrypted_card),
            "status": method.status.value,
            "created": method.created,
            "revoked_at": method.revoked_at,
            "version": method.version,
        }
        try:
            await self._conn.execute(insert(payment_methods).values(values))
        except IntegrityError as error:
            if _is_unique_violation(error):
                raise AlreadyExists(f"Payment method {method.id!r} already exists.") from error
            raise

    async def get(
        self, merchant_id: str, method_id: str, *, for_update: bool = False
    ) -> PaymentMethod | None:
        c = payment_methods.c
        query = select(payment_methods).where(c.id == method_id, c.merchant_id == merchant_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).mappings().first()
        return _method(row) if row is not None else None

    async def update(self, method: PaymentMethod) -> None:
        await _save_versioned(
            self._conn,
            payment_methods,
            method,
            {
                "status": method.status.value,
                **_sealed_values(method.encrypted_card),
                "revoked_at": method.revoked_at,
            },
        )

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool,
        limit: int,
        customer_id: str | None = None,
        starting_after: str | None = None,
    ) -> Sequence[PaymentMethod]:
        c = payment_methods.c
        query = select(payment_methods).where(c.merchant_id == merchant_id, c.livemode == livemode)
        if customer_id is not None:
            query = query.where(c.customer_id == customer_id)
        if starting_after is not None:
            query = query.where(c.id < starting_after)
        query = query.order_by(c.id.desc()).limit(limit)
        return [_method(row) for row in (await self._conn.execute(query)).mappings()]

    async def sealed_under_other_keys(
        self, merchant_id: str, current_key_id: str, *, limit: int
    ) -> Sequence[PaymentMethod]:
        query = (
            select(payment_methods)
            .where(_under_other_keys(payment_methods, merchant_id, current_key_id))
            .order_by(payment_methods.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_method(row) for row in (await self._conn.execute(query)).mappings()]

    async def count_sealed_under_other_keys(self, merchant_id: str, current_key_id: str) -> int:
        query = select(func.count()).where(
            _under_other_keys(payment_methods, merchant_id, current_key_id)
        )
        count: int = (await self._conn.execute(query)).scalar_one()
        return count


# --- data keys -------------------------------------------------------------------------


def _data_key(row: RowMapping) -> DataKey:
    return DataKey(
        id=row["id"],
        merchant_id=row["merchant_id"],
        version=row["version"],
        wrapped_key=bytes(row["wrapped_key"]),
        kek_id=row["kek_id"],
        created=row["created"],
        encryptions=row["encryptions"],
        retired_at=row["retired_at"],
    )


# Read by every tokenization whose key is not cached yet.
_LATEST_KEY = (
    select(data_keys)
    .where(data_keys.c.merchant_id == bindparam("merchant_id"))
    .order_by(data_keys.c.version.desc())
    .limit(1)
)


class SqlDataKeys:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, key: DataKey) -> None:
        try:
            # A savepoint: a lost race on (merchant, version) must not abort the caller's
            # transaction (Keyring.sealing_key rereads the winner's key and carries on).
            async with self._conn.begin_nested():
                await self._conn.execute(
                    insert(data_keys).values(
                        id=key.id,
                        merchant_id=key.merchant_id,
                        version=key.version,
                        wrapped_key=key.wrapped_key,
                        kek_id=key.kek_id,
                        created=key.created,
                        encryptions=key.encryptions,
                        retired_at=key.retired_at,
                    )
                )
        except IntegrityError as error:
            if _is_unique_violation(error, "uq_data_keys_merchant_id_version"):
                raise Conflict(
                    "Another process created that data key version first.",
                    reason="CONCURRENT_UPDATE",
                ) from error
            if _is_unique_violation(error):
                raise AlreadyExists(f"Data key {key.id!r} already exists.") from error
            raise

    async def get(self, merchant_id: str, key_id: str) -> DataKey | None:
        c = data_keys.c
        query = select(data_keys).where(c.id == key_id, c.merchant_id == merchant_id)
        row = (await self._conn.execute(query)).mappings().first()
        return _data_key(row) if row is not None else None

    async def latest(self, merchant_id: str) -> DataKey | None:
        row = (
            (await self._conn.execute(_LATEST_KEY, {"merchant_id": merchant_id})).mappings().first()
        )
        return _data_key(row) if row is not None else None

    async def update(self, key: DataKey) -> None:
        c = data_keys.c
        await self._conn.execute(
            update(data_keys)
            .where(c.id == key.id, c.merchant_id == key.merchant_id)
            .values(retired_at=key.retired_at, wrapped_key=key.wrapped_key, kek_id=key.kek_id)
        )

    async def count_encryptions(self, key_id: str, n: int = 1) -> int:
        c = data_keys.c
        statement = (
            update(data_keys)
            .where(c.id == key_id)
            .values(encryptions=c.encryptions + n)
            .returning(c.encryptions)
        )
        count: int = (await self._conn.execute(statement)).scalar_one()
        return count

    async def wrapped_by_other_keks(self, current_kek_id: str, *, limit: int) -> Sequence[DataKey]:
        c = data_keys.c
        query = (
            select(data_keys)
            .where(c.kek_id != current_kek_id)
            .order_by(c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_data_key(row) for row in (await self._conn.execute(query)).mappings()]

    async def merchants(self, *, limit: int, starting_after: str | None = None) -> Sequence[str]:
        c = data_keys.c
        query = select(c.merchant_id).distinct().order_by(c.merchant_id).limit(limit)
        if starting_after is not None:
            query = query.where(c.merchant_id > starting_after)
        return list((await self._conn.execute(query)).scalars())


# --- detokenization audit --------------------------------------------------------------


_INSERT_DETOKENIZATION = insert(detokenization_audit)


class SqlDetokenizations:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def append(self, record: DetokenizationRecord) -> None:
        await self._conn.execute(_INSERT_DETOKENIZATION, _record_values(record))

    async def for_payment_method(
        self, merchant_id: str, payment_method: str
    ) -> Sequence[DetokenizationRecord]:
        c = detokenization_audit.c
        query = (
            select(detokenization_audit)
            .where(c.merchant_id == merchant_id, c.payment_method == payment_method)
            .order_by(c.id)
        )
        return [
            DetokenizationRecord(
                merchant_id=row["merchant_id"],
                payment_method=row["payment_method"],
                actor=row["actor"],
                purpose=row["purpose"],
                outcome=DetokenizationOutcome(row["outcome"]),
                reason=row["reason"],
                occurred_at=row["occurred_at"],
            )
            for row in (await self._conn.execute(query)).mappings()
        ]
