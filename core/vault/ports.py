"""The vault's ports.

Driven (what the vault needs from the outside world): storage, key wrapping, a cipher, a
keyed fingerprint, a short-lived store of sealed CVCs and the detokenization audit trail.
Driving (`VaultApi`): the vault's public operations as the API servicers call them, served
in-process by core.vault.use_cases.Vault or forwarded to the vault role over gRPC.

core/ never touches a cryptographic library: AES-GCM, HMAC and the KEK live behind these
Protocols (adapters/crypto/). The vault has its own unit of work because it is its own PCI
zone: it may run as its own process, against its own schema and database credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from core.access.model import Principal
from core.shared.pagination import Page
from core.shared.unit_of_work import Transaction
from core.vault.cards import CardInput
from core.vault.model import (
    CipherContext,
    DataKey,
    DataKeyRef,
    DetokenizationRecord,
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

    async def use(self, token: Token, grant: DetokenizationRecord) -> None:
        """Saves a token just used up, as `update` does, with the audit record of the
        grant that used it, in one write: both are stored or neither.

        Raises core.shared.errors.Conflict when another transaction saved the token first
        (and then no record is stored).
        """
        ...

    async def expired(self, now: datetime, *, limit: int) -> Sequence[Token]:
        """ACTIVE tokens past `expires_at`, locked, skipping rows another transaction holds
        (FOR UPDATE SKIP LOCKED): the expiry sweep erases their ciphertexts."""
        ...

    async def sealed_under_other_keys(
        self, merchant_id: str, current_key_id: str, *, limit: int
    ) -> Sequence[Token]:
        """The merchant's tokens that still hold a ciphertext under a data key other than
        `current_key_id`, locked with FOR UPDATE SKIP LOCKED (the re-encryption job)."""
        ...

    async def count_sealed_under_other_keys(self, merchant_id: str, current_key_id: str) -> int:
        """How many such tokens remain, locked or not."""
        ...


class PaymentMethodRepository(Protocol):
    async def add(self, method: PaymentMethod) -> None: ...

    async def get(
        self, merchant_id: str, method_id: str, *, for_update: bool = False
    ) -> PaymentMethod | None: ...

    async def update(self, method: PaymentMethod) -> None:
        """Optimistic like TokenRepository.update."""
        ...

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool,
        limit: int,
        customer_id: str | None = None,
        starting_after: str | None = None,
    ) -> Sequence[PaymentMethod]:
        """Up to `limit` of the merchant's payment methods of that mode (of one customer
        when given), newest first, older than `starting_after` when given."""
        ...

    async def sealed_under_other_keys(
        self, merchant_id: str, current_key_id: str, *, limit: int
    ) -> Sequence[PaymentMethod]:
        """Like TokenRepository.sealed_under_other_keys."""
        ...

    async def count_sealed_under_other_keys(self, merchant_id: str, current_key_id: str) -> int: ...


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

    async def wrapped_by_other_keks(self, current_kek_id: str, *, limit: int) -> Sequence[DataKey]:
        """Data keys wrapped by a KEK other than the current one, locked with FOR UPDATE
        SKIP LOCKED: the KEK rotation re-wraps them."""
        ...

    async def merchants(self, *, limit: int, starting_after: str | None = None) -> Sequence[str]:
        """Ids of the merchants that have data keys, in id order, after `starting_after`."""
        ...


class DetokenizationAudit(Protocol):
    """Append-only: every request for a card in clear, granted or denied."""

    async def append(self, record: DetokenizationRecord) -> None: ...

    async def for_payment_method(
        self, merchant_id: str, payment_method: str
    ) -> Sequence[DetokenizationRecord]:
        """The records about one tok_/pm_ id, oldest first."""
        ...


class VaultUnitOfWork(Transaction, Protocol):
    """The vault's unit of work, on the vault's own database (apart from the gateway's)."""

    tokens: TokenRepository
    payment_methods: PaymentMethodRepository
    data_keys: DataKeyRepository
    detokenizations: DetokenizationAudit

    def autocommit(self) -> None:
        """Before any write: the unit of work's one write runs alone, as its own
        transaction (atomic, committed when it returns, nothing written when it fails),
        with no BEGIN or COMMIT round trip. `commit()` after it has nothing to do; a
        second write is refused (RuntimeError): a write that must stand or fall with
        another needs the transaction."""
        ...


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
    """The CVC between tokenization and the one authorization that uses it, never on disk
    (PCI DSS forbids storing it after authorization): process memory or a Redis entry with
    a time to live. The store only ever sees it SEALED: the vault encrypts it under the
    merchant's data key, bound to the token or payment method it belongs to, before `put`.
    """

    async def put(self, key: str, sealed: bytes, *, expires_at: datetime) -> None:
        """Keeps `sealed` until `expires_at` (an entry already expired is not kept)."""
        ...

    async def pop(self, key: str) -> bytes | None:
        """The sealed CVC, removed; None when there was none or it expired."""
        ...

    async def discard(self, key: str) -> None: ...


# ------------------------------------------------------------------ driving side


class VaultApi(Protocol):
    """The vault's public operations (POST /v1/tokens, /v1/payment_methods ...) for the API
    servicers: core.vault.use_cases.Vault in-process (embedded mode), or a gRPC client of
    the vault role (split mode). Both return the same core objects; a client-side Token or
    PaymentMethod never carries ciphertext (`encrypted_card` is None)."""

    async def tokenize_card(self, caller: Principal, card: CardInput) -> Token: ...

    async def create_payment_method_from_token(
        self, caller: Principal, token_id: str, *, customer_id: str = ""
    ) -> PaymentMethod: ...

    async def get_payment_method(self, caller: Principal, method_id: str) -> PaymentMethod: ...

    async def list_payment_methods(
        self,
        caller: Principal,
        *,
        customer_id: str = "",
        limit: int = 0,
        starting_after: str = "",
    ) -> Page[PaymentMethod]: ...

    async def revoke_payment_method(self, caller: Principal, method_id: str) -> PaymentMethod: ...
