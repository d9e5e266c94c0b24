"""Dashboard sessions: a short-lived access token and a rotating refresh token.

A session is a family of refresh tokens. Logging in starts one; each refresh spends the
presented token and issues the next one of the same family. A spent token presented
again means two parties hold the family (a stolen token, or a client that kept an old
one): the whole family is revoked, which also ends every access token it issued, since
authentication checks the session of each access token (its `sid` claim).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

ACCESS_TOKEN_TTL = timedelta(hours=24)
REFRESH_TOKEN_TTL = timedelta(days=7)
# However often it is refreshed, a session ends this long after the login that began it.
SESSION_MAX_AGE = timedelta(days=30)

REFRESH_TOKEN_PREFIX = "rt_"


class RevokeReason:
    LOGOUT = "logout"
    REUSE = "refresh_token_reuse"


@dataclass
class AuthSession:
    id: str  # ses_...
    user_id: str
    created: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    revoke_reason: str = ""

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass
class RefreshToken:
    id: str  # rt_...
    session_id: str
    token_hash: bytes
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True)
class AccessClaims:
    """What an access token says; the codec signs and verifies it."""

    user_id: str  # sub
    session_id: str  # sid
    issued_at: datetime  # iat
    expires_at: datetime  # exp
    token_id: str  # jti


def hash_token(plaintext: str) -> bytes:
    # Refresh and invitation tokens carry 256 bits of randomness: a fast hash cannot be
    # reversed, and it lets the database find the token by an index on the hash alone.
    return hashlib.sha256(plaintext.encode()).digest()
