"""The card vault's model: card values, tokens, payment methods and data keys.

What may leave the vault is `CardSummary` (brand, last4, expiry, fingerprint, funding,
country). The PAN travels inside the vault as `Pan`, a `Secret` whose repr shows the last
four digits only; it is stored only as `EncryptedCard`, AES-256-GCM under a per-merchant
data key (see core.vault.ports.Cipher and adapters/crypto/aes_gcm.py for the format).

Tokens (`tok_...`) are single-use and live 15 minutes:

    ACTIVE ──use──> USED        (the ciphertext is erased: a used token holds no PAN)
       ├──expire──> EXPIRED     (erased too)
       └──revoke──> REVOKED     (erased too)

Payment methods (`pm_...`) are reusable, belong to one merchant (and optionally one of its
customers) and end REVOKED, which erases their ciphertext (crypto-shredding of one card).

Data keys: one active AES-256 key per merchant at a time, stored only wrapped by the KEK.
`RotationPolicy.reason_to_rotate` says when the active one must give way to a new version
(age or number of encryptions); retired keys keep decrypting what they encrypted until the
re-encryption job has moved every row to a newer version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from core.shared.secret import Secret
from core.vault.errors import (
    CiphertextRejected,
    PaymentMethodRevoked,
    TokenAlreadyUsed,
    TokenExpired,
    TokenRevoked,
)

TOKEN_TTL = timedelta(minutes=15)


class Brand(StrEnum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    DISCOVER = "discover"
    JCB = "jcb"
    DINERS = "diners"
    UNIONPAY = "unionpay"
    RUPAY = "rupay"
    MAESTRO = "maestro"
    UNKNOWN = "unknown"


class Funding(StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"
    PREPAID = "prepaid"
    UNKNOWN = "unknown"


# The test card numbers API.md publishes. In test mode the risk engine does not count
# them in velocity rules, so integrations and load tests may reuse them; it learns that a
# card is one of them from the vault (CardForPayment.test_card), never from its number.
PUBLISHED_TEST_CARDS = frozenset({
    "4242424242424242", "5555555555554444", "378282246310005", "4000000000000002",
    "4000000000009995", "4000000000000069", "4000000000000127", "4000000000000119",
    "4000002760003184", "4000000000000408", "4100000000000019", "4000000000000259",
})  # fmt: skip


class Pan(Secret):
    """A primary account number (ASCII digits only). Its repr shows the last four only."""

    __slots__ = ()

    @property
    def last4(self) -> str:
        return self.reveal()[-4:]

    @property
    def bin(self) -> str:
        """The first six digits: the issuer, which may be shown outside the vault."""
        return self.reveal()[:6]

    @property
    def published_test_card(self) -> bool:
        return self.reveal() in PUBLISHED_TEST_CARDS

    def __repr__(self) -> str:
        return f"Pan('****{self.last4}')"

    __str__ = __repr__


class KeyMaterial:
    """Plaintext key bytes (a data key, a KEK) that never show in a repr or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return f"KeyMaterial(<{len(self._value)} bytes>)"

    __str__ = __repr__


@dataclass(frozen=True)
class CardSummary:
    """Everything about a card that may leave the vault."""

    brand: Brand
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str
    funding: Funding
    country: str  # ISO 3166-1 alpha-2, "" when the BIN table does not know


@dataclass(frozen=True)
class EncryptedCard:
    """A card's sensitive part as stored: the ciphertext plus which data key sealed it.

    `key_id`/`key_version` repeat what the ciphertext header says, as columns, so the
    re-encryption job can find rows under an old key version with an index.
    """

    ciphertext: bytes = field(repr=False)
    key_id: str
    key_version: int


@dataclass(frozen=True)
class SensitiveCard:
    """What gets encrypted: the PAN and the cardholder name (CVC never: see CvcStore)."""

    pan: Pan
    name: str = ""

    def to_bytes(self) -> bytes:
        # A versioned, self-describing plaintext so that fields can be added later.
        return json.dumps(
            {"v": 1, "pan": self.pan.reveal(), "name": self.name}, separators=(",", ":")
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> SensitiveCard:
        payload = json.loads(data)
        if not isinstance(payload, dict) or payload.get("v") != 1:
            raise ValueError("unknown card payload version")
        return cls(pan=Pan(str(payload["pan"])), name=str(payload.get("name", "")))


@dataclass(frozen=True)
class CardForAuthorization:
    """What the payments context gets, once, to send one authorization to an acquirer."""

    pan: Pan
    exp_month: int
    exp_year: int
    cvc: Secret | None  # None when none was given or it has already left memory
    name: str
    card: CardSummary


# ---------------------------------------------------------------------------- tokens


class TokenStatus(StrEnum):
    ACTIVE = "ACTIVE"
    USED = "USED"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


@dataclass
class Token:
    id: str
    merchant_id: str
    livemode: bool
    card: CardSummary
    encrypted_card: EncryptedCard | None  # None once the token left ACTIVE
    status: TokenStatus
    created: datetime
    expires_at: datetime
    used_at: datetime | None = None
    # Optimistic concurrency: bumped by every saved change.
    version: int = 1

    @classmethod
    def create(
        cls,
        *,
        id: str,
        merchant_id: str,
        livemode: bool,
        card: CardSummary,
        encrypted_card: EncryptedCard,
        created: datetime,
        ttl: timedelta = TOKEN_TTL,
    ) -> Token:
        return cls(
            id=id,
            merchant_id=merchant_id,
            livemode=livemode,
            card=card,
            encrypted_card=encrypted_card,
            status=TokenStatus.ACTIVE,
            created=created,
            expires_at=created + ttl,
        )

    @property
    def used(self) -> bool:
        return self.status is TokenStatus.USED

    def is_expired(self, now: datetime) -> bool:
        """EXPIRED, or still ACTIVE past its lifetime (not yet swept)."""
        return self.status is TokenStatus.EXPIRED or (
            self.status is TokenStatus.ACTIVE and now >= self.expires_at
        )

    def ensure_usable(self, now: datetime) -> None:
        """Raises the error that says why this token cannot be used now."""
        if self.status is TokenStatus.USED:
            raise TokenAlreadyUsed(
                f"Token {self.id} has already been used; a token can be used once. "
                "Create a new token, or a payment method for repeated use."
            )
        if self.status is TokenStatus.REVOKED:
            raise TokenRevoked(f"Token {self.id} has been revoked.")
        if self.is_expired(now):
            raise TokenExpired(
                f"Token {self.id} has expired: tokens are valid for "
                f"{int((self.expires_at - self.created).total_seconds() // 60)} minutes."
            )

    def use(self, now: datetime) -> EncryptedCard:
        """ACTIVE -> USED. Hands back the ciphertext one last time and forgets it."""
        self.ensure_usable(now)
        encrypted = self.encrypted_card
        if encrypted is None:  # an ACTIVE token always holds its card: a data bug
            raise CiphertextRejected(f"Token {self.id} holds no card data.")
        self.status = TokenStatus.USED
        self.used_at = now
        self.encrypted_card = None
        return encrypted

    def expire(self, now: datetime) -> None:
        """ACTIVE past its lifetime -> EXPIRED (what the expiry sweep and lookups do)."""
        if self.status is TokenStatus.ACTIVE and now >= self.expires_at:
            self.status = TokenStatus.EXPIRED
            self.encrypted_card = None

    def revoke(self) -> None:
        """ACTIVE -> REVOKED; a token that already ended stays as it is."""
        if self.status is TokenStatus.ACTIVE:
            self.status = TokenStatus.REVOKED
            self.encrypted_card = None


# ------------------------------------------------------------------- payment methods


class PaymentMethodStatus(StrEnum):
    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"


@dataclass
class PaymentMethod:
    id: str
    merchant_id: str
    livemode: bool
    card: CardSummary
    encrypted_card: EncryptedCard | None  # None once revoked
    created: datetime
    customer_id: str = ""
    status: PaymentMethodStatus = PaymentMethodStatus.ACTIVE
    revoked_at: datetime | None = None
    version: int = 1

    def ensure_usable(self) -> EncryptedCard:
        if self.status is PaymentMethodStatus.REVOKED or self.encrypted_card is None:
            raise PaymentMethodRevoked(f"Payment method {self.id} has been revoked.")
        return self.encrypted_card

    def revoke(self, now: datetime) -> None:
        """ACTIVE -> REVOKED and the ciphertext is erased; revoking again changes nothing."""
        if self.status is PaymentMethodStatus.REVOKED:
            return
        self.status = PaymentMethodStatus.REVOKED
        self.revoked_at = now
        self.encrypted_card = None


# ------------------------------------------------------------------------- data keys


@dataclass(frozen=True)
class DataKeyRef:
    """Which data key sealed a ciphertext; carried in the ciphertext header."""

    key_id: str
    version: int


@dataclass(frozen=True)
class CipherContext:
    """The row a ciphertext belongs to; bound into it as associated data, so a ciphertext
    copied to another row or another merchant's row does not decrypt."""

    merchant_id: str
    record_id: str  # tok_... or pm_...


@dataclass
class DataKey:
    id: str
    merchant_id: str
    version: int  # 1, 2, 3... per merchant; the newest unretired one is active
    wrapped_key: bytes = field(repr=False)  # the key under the KEK; never stored in clear
    kek_id: str  # which KEK wrapped it (KEK rotation re-wraps, leaving the key as is)
    created: datetime
    encryptions: int = 0
    retired_at: datetime | None = None

    @property
    def ref(self) -> DataKeyRef:
        return DataKeyRef(self.id, self.version)

    @property
    def active(self) -> bool:
        return self.retired_at is None

    def retire(self, now: datetime) -> None:
        """No new encryptions; it still decrypts what it sealed."""
        if self.retired_at is None:
            self.retired_at = now


class RotationReason(StrEnum):
    AGE = "AGE"
    USAGE = "USAGE"
    RETIRED = "RETIRED"


@dataclass(frozen=True)
class RotationPolicy:
    """When a data key stops encrypting. 90 days or 1,000,000 encryptions by default.

    The usage cap is a blast-radius limit, far below the cryptographic one (NIST SP
    800-38D: at most 2**32 encryptions per key with random 96-bit nonces).
    """

    max_age: timedelta = timedelta(days=90)
    max_encryptions: int = 1_000_000

    def __post_init__(self) -> None:
        if self.max_age <= timedelta(0):
            raise ValueError("max_age must be positive")
        if not 1 <= self.max_encryptions <= 2**32:
            raise ValueError("max_encryptions must be between 1 and 2**32")

    def reason_to_rotate(self, key: DataKey, now: datetime) -> RotationReason | None:
        """Why `key` may not seal one more card, or None when it may."""
        if not key.active:
            return RotationReason.RETIRED
        if now - key.created >= self.max_age:
            return RotationReason.AGE
        if key.encryptions >= self.max_encryptions:
            return RotationReason.USAGE
        return None


def next_data_key_version(current: DataKey | None) -> int:
    return 1 if current is None else current.version + 1


# ------------------------------------------------------------- detokenization audit


class DetokenizationOutcome(StrEnum):
    GRANTED = "GRANTED"  # the card left the vault in clear, for one authorization
    DENIED = "DENIED"  # refused: see `reason` (TOKEN_ALREADY_USED, RESOURCE_MISSING, ...)


@dataclass(frozen=True)
class DetokenizationRecord:
    """Who asked for which card in clear, when, why, and what they got. Append-only.

    `payment_method` is the tok_/pm_ id as asked (cut to 64 characters: a denied request
    may carry anything); never a card number.
    """

    merchant_id: str
    payment_method: str
    actor: str  # the authenticated caller: "service:payments", "in-process:payments"
    purpose: str  # what the card is for, e.g. "authorize pa_..." (the caller says)
    outcome: DetokenizationOutcome
    reason: str  # "" when granted, else the error's reason
    occurred_at: datetime
