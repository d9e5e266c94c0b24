"""Members of a merchant account and the invitations that make them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.access.roles import Role

INVITATION_TTL = timedelta(days=7)
INVITATION_TOKEN_PREFIX = "invtok_"


@dataclass
class Membership:
    merchant_id: str
    user_id: str
    role: Role
    created: datetime


@dataclass(frozen=True)
class Member:
    """A membership as listed: with the user's email."""

    merchant_id: str
    user_id: str
    email: str
    role: Role
    created: datetime


class InvitationStatus(StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


@dataclass
class Invitation:
    id: str  # inv_...
    merchant_id: str
    email: str  # normalized; only the user with this email may accept
    role: Role
    token_hash: bytes
    invited_by: str  # actor: usr_... or key_...
    created: datetime
    expires_at: datetime
    accepted_at: datetime | None = None
    accepted_by: str | None = None
    revoked_at: datetime | None = None

    def is_open(self, now: datetime) -> bool:
        return self.status(now) is InvitationStatus.PENDING

    def status(self, now: datetime) -> InvitationStatus:
        if self.accepted_at is not None:
            return InvitationStatus.ACCEPTED
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if now >= self.expires_at:
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING
