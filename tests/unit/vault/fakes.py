"""Test doubles for the unit tests of core.vault: a clock, a KEK that can fail, a KMS.

The repositories and unit of work are tests/fakes/vault.py (contract-tested against
PostgreSQL in tests/contract/vault/).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.crypto.aes_gcm import AesGcmCipher
from adapters.crypto.fingerprint import HmacFingerprinter
from adapters.crypto.kek import AesGcmKeyWrapper, KmsRejected, KmsUnavailable
from adapters.memory.cvc_store import MemoryCvcStore
from adapters.system import RandomIds
from core.access.model import Principal
from core.access.roles import Role
from core.vault.errors import KeyUnavailable
from core.vault.model import DataKeyRef, KeyMaterial, RotationPolicy
from core.vault.use_cases import Vault
from tests.fakes.vault import (
    MemoryDataKeys,
    MemoryVaultStore,
    MemoryVaultUnitOfWorkFactory,
)

FakeDataKeys = MemoryDataKeys  # what tests monkeypatch to stage races

T0 = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


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

    def store_uow(self) -> MemoryVaultUnitOfWorkFactory:
        """Units of work over this harness's store (for jobs built next to the vault)."""
        return MemoryVaultUnitOfWorkFactory(self.store)


def make_vault(
    *,
    rotation: RotationPolicy | None = None,
    clock: FakeClock | None = None,
    store: MemoryVaultStore | None = None,
    kek_wrapper: AesGcmKeyWrapper | None = None,
) -> Harness:
    clock = clock or FakeClock()
    uow = MemoryVaultUnitOfWorkFactory(store)
    kek_wrapper = kek_wrapper or AesGcmKeyWrapper({"kek-1": KEK}, current="kek-1")
    cvcs = MemoryCvcStore(clock)
    kek = CountingKeyWrapper(kek_wrapper)
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
