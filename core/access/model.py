"""Merchants, API keys and the principal a request runs as."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.access.roles import Role, permissions_of


class KeyType(StrEnum):
    SECRET = "SECRET"
    PUBLISHABLE = "PUBLISHABLE"


KEY_PREFIXES = {KeyType.SECRET: "sk", KeyType.PUBLISHABLE: "pk"}
# Characters of a key kept in clear for lookup: "sk_test_" plus 8 random characters.
LOOKUP_CHARS = 8


@dataclass(frozen=True)
class Merchant:
    id: str
    name: str
    created: datetime


@dataclass
class ApiKey:
    id: str
    merchant_id: str
    type: KeyType
    role: Role | None
    livemode: bool
    lookup: str  # e.g. sk_test_3kTq9xYz: indexed, shown in lists
    last4: str
    secret_hash: bytes
    created: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    usage_count: int = 0
    # Set when the key is rolled: it keeps working until then (the grace period), so a
    # merchant can deploy the new key before the old one stops.
    expires_at: datetime | None = None
    # The whole key, for publishable keys only: public by design (every checkout page
    # carries it), so the hosted checkout can put it into its page. "" for secret keys.
    publishable_key: str = ""
    # Networks (normalized CIDRs) the key may be used from; empty: anywhere
    # (core/access/ip_allowlist.py).
    allowed_ips: tuple[str, ...] = ()

    def matches(self, plaintext: str) -> bool:
        return hmac.compare_digest(self.secret_hash, hash_key(plaintext))

    @property
    def active(self) -> bool:
        """Not revoked (a rolled key may still be inside its grace period: see usable_at)."""
        return self.revoked_at is None

    def usable_at(self, now: datetime) -> bool:
        return self.active and (self.expires_at is None or now < self.expires_at)


def mode_prefix(key_type: KeyType, livemode: bool) -> str:
    return f"{KEY_PREFIXES[key_type]}_{'live' if livemode else 'test'}_"


def hash_key(plaintext: str) -> bytes:
    # API keys carry 190 bits of randomness, so a fast hash cannot be brute-forced the way a
    # password hash could; it keeps authentication at one indexed lookup and one digest.
    return hashlib.sha256(plaintext.encode()).digest()


def lookup_of(plaintext: str) -> str:
    # The random body may itself contain "_", so split at the first two only.
    kind, mode, body = [*plaintext.split("_", 2), "", ""][:3]
    return f"{kind}_{mode}_{body[:LOOKUP_CHARS]}"


@dataclass(frozen=True)
class Principal:
    """Who is calling, for which merchant, with what rights."""

    merchant_id: str
    livemode: bool
    actor: str  # "key_..." or "usr_...": written into events and audit records
    role: Role | None
    is_publishable: bool = False
    # The user behind a dashboard session; empty for API keys.
    user_id: str = ""
    # The client's address as the gRPC layer established it (see docs/access.md): for
    # the audit log, and for the risk engine when the client is a shopper's browser
    # (docs/risk.md); never for access decisions.
    origin: str = ""

    @property
    def is_user(self) -> bool:
        return bool(self.user_id)

    @property
    def permissions(self) -> frozenset[str]:
        return permissions_of(self.role) if self.role else frozenset()
