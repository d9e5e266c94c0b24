"""In-memory fakes of the vault's ports, for the unit tests of core.vault.

The unit of work behaves like adapters/memory/unit_of_work.py: it works on a deep copy
of the store under one lock and swaps it in on commit, so a failed use-case leaves
nothing half-written. The SQL adapters get the same cases as contract tests later.
"""

from __future__ import annotations

import asyncio
import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.crypto.aes_gcm import AesGcmCipher
from adapters.crypto.fingerprint import HmacFingerprinter
from adapters.crypto.kek import AesGcmKeyWrapper, KmsRejected, KmsUnavailable
from adapters.memory.cvc_store import MemoryCvcStore
from adapters.system import RandomIds
from core.access.model import Principal
from core.access.roles import Role
from core.shared.errors import Conflict
from core.vault.errors import KeyUnavailable
from core.vault.model import DataKey, DataKeyRef, KeyMaterial, PaymentMethod, RotationPolicy, Token
from core.vault.use_cases import Vault

T0 = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@dataclass
class VaultTables:
    tokens: dict[str, Token] = field(default_factory=dict)
    payment_methods: dict[str, PaymentMethod] = field(default_factory=dict)
    data_keys: dict[str, DataKey] = field(default_factory=dict)


class MemoryVaultStore:
    def __init__(self) -> None:
        self.tables = VaultTables()
        self.lock = asyncio.Lock()
        self.commits = 0


R = TypeVar("R", Token, PaymentMethod)


def _save_versioned(rows: dict[str, R], row: R) -> None:
    """Optimistic concurrency, as the SQL adapter does it with `WHERE version = :seen`."""
    stored = rows.get(row.id)
    if stored is None or stored.version != row.version:
        raise Conflict("changed concurrently", reason="CONCURRENT_UPDATE")
    row.version += 1
    rows[row.id] = copy.deepcopy(row)


class FakeTokens:
    def __init__(self, tables: VaultTables) -> None:
        self._t = tables

    async def add(self, token: Token) -> None:
        assert token.id not in self._t.tokens
        self._t.tokens[token.id] = copy.deepcopy(token)

    async def get(
        self, merchant_id: str, token_id: str, *, for_update: bool = False
    ) -> Token | None:
        token = self._t.tokens.get(token_id)
        if token is None or token.merchant_id != merchant_id:
            return None
        return copy.deepcopy(token)

    async def update(self, token: Token) -> None:
        _save_versioned(self._t.tokens, token)


class FakePaymentMethods:
    def __init__(self, tables: VaultTables) -> None:
        self._t = tables

    async def add(self, method: PaymentMethod) -> None:
        assert method.id not in self._t.payment_methods
        self._t.payment_methods[method.id] = copy.deepcopy(method)

    async def get(
        self, merchant_id: str, method_id: str, *, for_update: bool = False
    ) -> PaymentMethod | None:
        method = self._t.payment_methods.get(method_id)
        if method is None or method.merchant_id != merchant_id:
            return None
        return copy.deepcopy(method)

    async def update(self, method: PaymentMethod) -> None:
        _save_versioned(self._t.payment_methods, method)

    async def list_for_customer(
        self, merchant_id: str, customer_id: str, *, limit: int
    ) -> Sequence[PaymentMethod]:
        rows = sorted(
            (
                m
                for m in self._t.payment_methods.values()
                if m.merchant_id == merchant_id and m.customer_id == customer_id
            ),
            key=lambda m: m.id,
            reverse=True,
        )
        return [copy.deepcopy(m) for m in rows[:limit]]


class FakeDataKeys:
    def __init__(self, tables: VaultTables) -> None:
        self._t = tables

    async def add(self, key: DataKey) -> None:
        if any(
            k.merchant_id == key.merchant_id and k.version == key.version
            for k in self._t.data_keys.values()
        ):
            raise Conflict("data key version exists", reason="CONCURRENT_UPDATE")
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


class MemoryVaultUnitOfWork:
    def __init__(self, store: MemoryVaultStore) -> None:
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
        self._store.commits += 1
        self._work = copy.deepcopy(self._work)
        self._rebind()

    def _rebind(self) -> None:
        self.tokens = FakeTokens(self._work)
        self.payment_methods = FakePaymentMethods(self._work)
        self.data_keys = FakeDataKeys(self._work)


class MemoryVaultUnitOfWorkFactory:
    def __init__(self, store: MemoryVaultStore | None = None) -> None:
        self.store = store or MemoryVaultStore()

    def __call__(self) -> MemoryVaultUnitOfWork:
        return MemoryVaultUnitOfWork(self.store)


class CountingKeyWrapper:
    """A real local KEK that counts its calls and can be switched off (KMS outage)."""

    def __init__(self, inner: AesGcmKeyWrapper) -> None:
        self.inner = inner
        self.wraps = 0
        self.unwraps = 0
        self.down = False

    @property
    def kek_id(self) -> str:
        return self.inner.kek_id

    async def wrap(self, key: KeyMaterial, *, merchant_id: str, ref: DataKeyRef) -> bytes:
        if self.down:
            raise KeyUnavailable("KEK unreachable")
        self.wraps += 1
        return await self.inner.wrap(key, merchant_id=merchant_id, ref=ref)

    async def unwrap(self, wrapped: bytes, *, merchant_id: str, ref: DataKeyRef) -> KeyMaterial:
        if self.down:
            raise KeyUnavailable("KEK unreachable")
        self.unwraps += 1
        return await self.inner.unwrap(wrapped, merchant_id=merchant_id, ref=ref)


class FakeKms:
    """A KMS in a dict: AES-GCM under per-key-id keys, the context as associated data."""

    def __init__(self) -> None:
        self._aead = {"alias/paygate-kek": AESGCM(AESGCM.generate_key(bit_length=256))}
        self.down = False

    async def encrypt(self, key_id: str, plaintext: bytes, *, context: Mapping[str, str]) -> bytes:
        if self.down:
            raise KmsUnavailable()
        nonce = os.urandom(12)
        return nonce + self._aead[key_id].encrypt(nonce, plaintext, _context_bytes(context))

    async def decrypt(self, key_id: str, ciphertext: bytes, *, context: Mapping[str, str]) -> bytes:
        if self.down:
            raise KmsUnavailable()
        try:
            return self._aead[key_id].decrypt(
                ciphertext[:12], ciphertext[12:], _context_bytes(context)
            )
        except InvalidTag:
            raise KmsRejected() from None


def _context_bytes(context: Mapping[str, str]) -> bytes:
    return repr(sorted(context.items())).encode()


def principal(merchant_id: str = "acct_a", *, livemode: bool = False) -> Principal:
    return Principal(merchant_id=merchant_id, livemode=livemode, actor="key_test", role=Role.OWNER)


KEK = KeyMaterial(bytes(range(32)))
FINGERPRINT_KEY = KeyMaterial(bytes(range(100, 132)))


@dataclass
class Harness:
    vault: Vault
    store: MemoryVaultStore
    clock: FakeClock
    cvcs: MemoryCvcStore
    kek: CountingKeyWrapper
    cipher: AesGcmCipher


def make_vault(
    *, rotation: RotationPolicy | None = None, clock: FakeClock | None = None
) -> Harness:
    clock = clock or FakeClock()
    uow = MemoryVaultUnitOfWorkFactory()
    cvcs = MemoryCvcStore(clock)
    kek = CountingKeyWrapper(AesGcmKeyWrapper({"kek-1": KEK}, current="kek-1"))
    cipher = AesGcmCipher()
    vault = Vault(
        uow,
        cipher=cipher,
        key_wrapper=kek,
        fingerprinter=HmacFingerprinter(FINGERPRINT_KEY),
        cvc_store=cvcs,
        ids=RandomIds(),
        clock=clock,
        rotation=rotation,
    )
    return Harness(vault, uow.store, clock, cvcs, kek, cipher)
