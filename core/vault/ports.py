"""What the vault needs from the outside world: storage, key wrapping, a cipher, a keyed
fingerprint and a short-lived CVC store.

core/ never touches a cryptographic library: AES-GCM, HMAC and the KEK live behind these
Protocols (adapters/crypto/). The vault has its own unit of work because it is its own PCI
zone: it may run as its own process, against its own schema and database credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from core.shared.secret import Secret
from core.vault.model import (
    CipherContext,
    DataKey,
    DataKeyRef,
    KeyMaterial,
    Pan,
    PaymentMethod,
    Token,
)

# ----------------------------------------------------------------------- persistence


class TokenRepository(Protocol):
    async def add(self, token: Token) -> None: ...

    async def get(
        self, merchant_id: str, token_id: str, *, for_update: bool = False
    ) -> Token | None:
        """The token if it belongs to that merchant; `for_update` locks it until commit."""
        ...

    async def update(self, token: Token) -> None:
        """Saves a changed token whose `version` is still the stored one, and bumps it.

        Raises core.shared.errors.Conflict when another transaction saved it first.
        """
        ...


class PaymentMethodRepository(Protocol):
    async def add(self, method: PaymentMethod) -> None: ...

    async def get(
        self, merchant_id: str, method_id: str, *, for_update: bool = False
    ) -> PaymentMethod | None: ...

    async def update(self, method: PaymentMethod) -> None:
        """Optimistic like TokenRepository.update."""
        ...

    async def list_for_customer(
        self, merchant_id: str, customer_id: str, *, limit: int
    ) -> Sequence[PaymentMethod]:
        """Newest first."""
        ...


class DataKeyRepository(Protocol):
    async def add(self, key: DataKey) -> None:
        """Raises core.shared.errors.Conflict when the merchant already has that version
        (two processes rotated at once: one wins, the other reloads the winner's key)."""
        ...

    async def get(self, merchant_id: str, key_id: str) -> DataKey | None:
        """Any version, retired or not: old ciphertexts name their key in their header."""
        ...

    async def latest(self, merchant_id: str) -> DataKey | None:
        """The merchant's highest version, retired or not (None before its first card)."""
        ...

    async def update(self, key: DataKey) -> None:
        """Saves `retired_at` (and a re-wrapped key after a KEK rotation)."""
        ...

    async def count_encryptions(self, key_id: str, n: int = 1) -> int:
        """Adds n to the key's encryption count in one statement; returns the new count.

        An atomic increment, not a read-modify-write: concurrent tokenizations may overshoot
        the rotation threshold by a few, never lose a count.
        """
        ...


class VaultUnitOfWork(Protocol):
    """`async with uow:` opens a transaction; leaving without `commit()` rolls it back."""

    tokens: TokenRepository
    payment_methods: PaymentMethodRepository
    data_keys: DataKeyRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


VaultUnitOfWorkFactory = Callable[[], VaultUnitOfWork]

# ---------------------------------------------------------------------- cryptography


class KeyWrapper(Protocol):
    """The key-encryption key (KEK): local (file, environment, two XORed components) or a
    KMS. It wraps data keys and never hands out its own key material."""

    @property
    def kek_id(self) -> str:
        """The KEK that `wrap` uses now (stored with each data key)."""
        ...

    async def wrap(self, key: KeyMaterial, *, merchant_id: str, ref: DataKeyRef) -> bytes:
        """The data key sealed under the current KEK, bound to its merchant and id/version.

        Raises core.vault.errors.KeyUnavailable when the KEK cannot be reached.
        """
        ...

    async def unwrap(self, wrapped: bytes, *, merchant_id: str, ref: DataKeyRef) -> KeyMaterial:
        """The data key back. Raises CiphertextRejected when `wrapped` was not made for that
        merchant and key (or was altered), KeyUnavailable when the KEK cannot be reached."""
        ...


class Cipher(Protocol):
    """Authenticated encryption of card data under a data key (AES-256-GCM).

    The ciphertext carries a versioned header naming its data key (id and version) and is
    bound to a CipherContext: decrypting it with another context fails.
    """

    def generate_key(self) -> KeyMaterial:
        """A fresh random data key."""
        ...

    def encrypt(
        self, key: KeyMaterial, plaintext: bytes, *, ref: DataKeyRef, context: CipherContext
    ) -> bytes: ...

    def key_ref(self, ciphertext: bytes) -> DataKeyRef:
        """Reads the header: which data key to fetch. Raises CiphertextRejected if malformed."""
        ...

    def decrypt(self, key: KeyMaterial, ciphertext: bytes, *, context: CipherContext) -> bytes:
        """Raises CiphertextRejected on any mismatch: altered bytes, wrong key, wrong context."""
        ...


class Fingerprinter(Protocol):
    """A keyed fingerprint of a PAN, scoped to one merchant: the same card gives the same
    fingerprint within a merchant and an unrelated one at another merchant. Never a plain
    hash (a 16-digit PAN with a known BIN is a few billion guesses away from its hash)."""

    def fingerprint(self, pan: Pan, *, merchant_id: str) -> str: ...


class CvcStore(Protocol):
    """The CVC between tokenization and the one authorization that uses it, in memory only
    (PCI DSS forbids storing it after authorization, and we never write it to disk)."""

    async def put(self, key: str, cvc: Secret, *, expires_at: datetime) -> None: ...

    async def pop(self, key: str) -> Secret | None:
        """The CVC, removed; None when there was none or it expired."""
        ...

    async def discard(self, key: str) -> None: ...
