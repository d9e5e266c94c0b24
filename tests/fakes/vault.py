"""The vault's repositories and unit of work in process memory.

For core unit tests and as the reference the PostgreSQL adapter is contract-tested
against (tests/contract/vault/). Like tests/fakes/unit_of_work.py, a unit of work works
on a deep copy of the store under one lock and swaps it in on commit, so a failed use-case
leaves nothing half-written. The lock also stands in for row locks: nothing runs
concurrently with a unit of work, so FOR UPDATE and SKIP LOCKED have nothing to do here.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from core.shared.errors import AlreadyExists, Conflict
from core.vault.model import (
    DataKey,
    DetokenizationRecord,
    PaymentMethod,
    PaymentMethodStatus,
    Token,
    TokenStatus,
)
from core.vault.ports import (
    DataKeyRepository,
    DetokenizationAudit,
    PaymentMethodRepository,
    TokenRepository,
)
from tests.fakes.transaction import MemoryStore, MemoryTransaction


@dataclass
class VaultTables:
    tokens: dict[str, Token] = field(default_factory=dict)
    payment_methods: dict[str, PaymentMethod] = field(default_factory=dict)
    data_keys: dict[str, DataKey] = field(default_factory=dict)
    detokenizations: list[DetokenizationRecord] = field(default_factory=list)


class MemoryVaultStore(MemoryStore[VaultTables]):
    def __init__(self) -> None:
        super().__init__(VaultTables())


R = TypeVar("R", Token, PaymentMethod)


def _save_versioned(rows: dict[str, R], row: R) -> None:
    """Optimistic concurrency, as the SQL adapter does it with `WHERE version = :seen`."""
    stored = rows.get(row.id)
    if stored is None or stored.merchant_id != row.merchant_id or stored.version != row.version:
        raise Conflict(f"{row.id} was changed concurrently.", reason="CONCURRENT_UPDATE")
    row.version += 1
    rows[row.id] = copy.deepcopy(row)


def _add(rows: dict[str, R], row: R, what: str) -> None:
    if row.id in rows:
        raise AlreadyExists(f"{what} {row.id!r} already exists.")
    rows[row.id] = copy.deepcopy(row)


def _under_other_keys(rows: Sequence[R], merchant_id: str, current_key_id: str) -> list[R]:
    return sorted(
        (
            r
            for r in rows
            if r.merchant_id == merchant_id
            and r.encrypted_card is not None
            and r.encrypted_card.key_id != current_key_id
        ),
        key=lambda r: r.id,
    )


class MemoryTokens:
    def __init__(self, tables: VaultTables) -> None:
        self._t = tables

    async def add(self, token: Token) -> None:
        _add(self._t.tokens, token, "Token")

    async def get(
        self, merchant_id: str, token_id: str, *, for_update: bool = False
    ) -> Token | None:
        token = self._t.tokens.get(token_id)
        if token is None or token.merchant_id != merchant_id:
            return None
        return copy.deepcopy(token)

    async def update(self, token: Token) -> None:
        _save_versioned(self._t.tokens, token)

    async def use(self, token: Token, grant: DetokenizationRecord) -> None:
        _save_versioned(self._t.tokens, token)
        self._t.detokenizations.append(grant)

    async def expired(self, now: datetime, *, limit: int) -> Sequence[Token]:
        rows = sorted(
            (
                t
                for t in self._t.tokens.values()
                if t.status is TokenStatus.ACTIVE and t.expires_at <= now
            ),
            key=lambda t: (t.expires_at, t.id),
        )
        return [copy.deepcopy(t) for t in rows[:limit]]

    async def sealed_under_other_keys(
        self, merchant_id: str, current_key_id: str, *, limit: int
    ) -> Sequence[Token]:
        rows = _under_other_keys(list(self._t.tokens.values()), merchant_id, current_key_id)
        return [copy.deepcopy(t) for t in rows[:limit]]

    async def count_sealed_under_other_keys(self, merchant_id: str, current_key_id: str) -> int:
        return len(_under_other_keys(list(self._t.tokens.values()), merchant_id, current_key_id))


class MemoryPaymentMethods:
    def __init__(self, tables: VaultTables) -> None:
        self._t = tables

    async def add(self, method: PaymentMethod) -> None:
        _add(self._t.payment_methods, method, "Payment method")

    async def get(
        self, merchant_id: str, method_id: str, *, for_update: bool = False
    ) -> PaymentMethod | None:
        method = self._t.payment_methods.get(method_id)
        if method is None or method.merchant_id != merchant_id:
            return None
        return copy.deepcopy(method)

    async def update(self, method: PaymentMethod) -> None:
        _save_versioned(self._t.payment_methods, method)

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool,
        limit: int,
        customer_id: str | None = None,
        starting_after: str | None = None,
    ) -> Sequence[PaymentMethod]:
        rows = sorted(
            (
                m
                for m in self._t.payment_methods.values()
                if m.merchant_id == merchant_id
                and m.livemode == livemode
                and (customer_id is None or m.customer_id == customer_id)
                and (starting_after is None or m.id < starting_after)
            ),
            key=lambda m: m.id,
            reverse=True,
        )
        return [copy.deepcopy(m) for m in rows[:limit]]

    async def sealed_under_other_keys(
        self, merchant_id: str, current_key_id: str, *, limit: int
    ) -> Sequence[PaymentMethod]:
        rows = _under_other_keys(
            [m for m in self._t.payment_methods.values() if m.status is PaymentMethodStatus.ACTIVE],
            merchant_id,
            current_key_id,
        )
        return [copy.deepcopy(m) for m in rows[:limit]]

    async def count_sealed_under_other_keys(self, merchant_id: str, current_key_id: str) -> int:
        return len(
            _under_other_keys(list(self._t.payment_methods.values()), merchant_id, current_key_id)
        )


class MemoryDataKeys:
    def __init__(self, tables: VaultTables) -> None:
        self._t = tables

    async def add(self, key: DataKey) -> None:
        if any(
            k.merchant_id == key.merchant_id and k.version == key.version
            for k in self._t.data_keys.values()
        ):
            raise Conflict("That data key version exists.", reason="CONCURRENT_UPDATE")
        if key.id in self._t.data_keys:
            raise AlreadyExists(f"Data key {key.id!r} already exists.")
        self._t.data_keys[key.id] = copy.deepcopy(key)

    async def get(self, merchant_id: str, key_id: str) -> DataKey | None:
        key = self._t.data_keys.get(key_id)
        if key is None or key.merchant_id != merchant_id:
            return None
        return copy.deepcopy(key)

    async def latest(self, merchant_id: str) -> DataKey | None:
        keys = [k for k in self._t.data_keys.values() if k.merchant_id == merchant_id]
        return copy.deepcopy(max(keys, key=lambda k: k.version)) if keys else None

    async def update(self, key: DataKey) -> None:
        stored = self._t.data_keys[key.id]
        # Only what update() may change: the count belongs to count_encryptions().
        self._t.data_keys[key.id] = replace(
            stored, retired_at=key.retired_at, wrapped_key=key.wrapped_key, kek_id=key.kek_id
        )

    async def count_encryptions(self, key_id: str, n: int = 1) -> int:
        self._t.data_keys[key_id].encryptions += n
        return self._t.data_keys[key_id].encryptions

    async def wrapped_by_other_keks(self, current_kek_id: str, *, limit: int) -> Sequence[DataKey]:
        rows = sorted(
            (k for k in self._t.data_keys.values() if k.kek_id != current_kek_id),
            key=lambda k: k.id,
        )
        return [copy.deepcopy(k) for k in rows[:limit]]

    async def merchants(self, *, limit: int, starting_after: str | None = None) -> Sequence[str]:
        ids = sorted({k.merchant_id for k in self._t.data_keys.values()})
        return [m for m in ids if starting_after is None or m > starting_after][:limit]


class MemoryDetokenizations:
    def __init__(self, tables: VaultTables) -> None:
        self._t = tables

    async def append(self, record: DetokenizationRecord) -> None:
        self._t.detokenizations.append(record)

    async def for_payment_method(
        self, merchant_id: str, payment_method: str
    ) -> Sequence[DetokenizationRecord]:
        return [
            r
            for r in self._t.detokenizations
            if r.merchant_id == merchant_id and r.payment_method == payment_method
        ]


class MemoryVaultUnitOfWork(MemoryTransaction[VaultTables]):
    tokens: TokenRepository
    payment_methods: PaymentMethodRepository
    data_keys: DataKeyRepository
    detokenizations: DetokenizationAudit

    def _rebind(self) -> None:
        self.tokens = MemoryTokens(self._work)
        self.payment_methods = MemoryPaymentMethods(self._work)
        self.data_keys = MemoryDataKeys(self._work)
        self.detokenizations = MemoryDetokenizations(self._work)


class MemoryVaultUnitOfWorkFactory:
    def __init__(self, store: MemoryVaultStore | None = None) -> None:
        self.store = store or MemoryVaultStore()

    def __call__(self) -> MemoryVaultUnitOfWork:
        return MemoryVaultUnitOfWork(self.store)
