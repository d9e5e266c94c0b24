"""Deterministic clock and ids for tests that assert on exact values; cheap real crypto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import argon2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.auth.jwt_tokens import JwtCodec
from adapters.auth.passwords import Argon2Hasher
from core.shared.ids import encode, uuid7_int
from core.shared.ports import Clock

EPOCH = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


class FixedClock:
    """Stands still until told to move."""

    def __init__(self, at: datetime = EPOCH) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


class SequentialIds:
    """Ids in creation order (like the real ones) and predictable secrets."""

    def __init__(self, clock: FixedClock | None = None) -> None:
        self._clock = clock or FixedClock()
        self._count = 0

    def new(self, prefix: str) -> str:
        self._count += 1
        unix_ms = int(self._clock.now().timestamp() * 1000)
        return encode(prefix, uuid7_int(unix_ms, 0, self._count))

    def secret(self, nbytes: int = 24) -> str:
        self._count += 1
        # As long as token_urlsafe(nbytes) would be; the counter keeps the first 8 unique.
        return f"{self._count:08d}".ljust(max(-(-nbytes * 4 // 3), 8), "x")


def cheap_hasher() -> Argon2Hasher:
    """The real argon2id hasher at its cheapest parameters: milliseconds, not 50 ms."""
    return Argon2Hasher(argon2.profiles.CHEAPEST)


def token_codec(clock: Clock) -> JwtCodec:
    return JwtCodec(Ed25519PrivateKey.generate(), clock)
