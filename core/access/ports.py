"""What the access context needs from the outside world."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.access.audit import AuditEvent, AuditQuery, RecordedAuditEvent
from core.access.members import Invitation, InvitationStatus, Member, Membership
from core.access.model import ApiKey, Merchant
from core.access.roles import Role
from core.access.sessions import AccessClaims, AuthSession, RefreshToken
from core.access.users import User

# --- repositories (one transaction: see core/unit_of_work.py) ---------------------


class MerchantRepository(Protocol):
    async def add(self, merchant: Merchant) -> None: ...

    async def get(self, merchant_id: str) -> Merchant | None: ...


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def by_lookup(self, lookup: str) -> Sequence[ApiKey]:
        """Keys whose clear prefix is `lookup` (almost always zero or one)."""
        ...

    async def get(self, merchant_id: str, key_id: str) -> ApiKey | None: ...

    async def list(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        livemode: bool | None = None,
    ) -> Sequence[ApiKey]:
        """Newest first; of one mode when `livemode` is given."""
        ...

    async def revoke(self, merchant_id: str, key_id: str, at: datetime) -> None: ...

    async def expire(self, merchant_id: str, key_id: str, at: datetime) -> None:
        """Sets expires_at (a rolled key's end of grace) unless the key is revoked."""
        ...

    async def set_allowed_ips(
        self, merchant_id: str, key_id: str, allowed_ips: tuple[str, ...]
    ) -> None: ...

    async def record_use(self, key_id: str, at: datetime, count: int = 1) -> None:
        """Adds `count` to usage_count and moves last_used_at forward to `at` (never
        backwards) in one statement."""
        ...


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Raises AlreadyExists when the (normalized) email is taken."""
        ...

    async def get(self, user_id: str) -> User | None: ...

    async def by_email(self, email: str, *, for_update: bool = False) -> User | None:
        """`for_update` locks the row until commit: concurrent logins of one account queue
        up, so parallel guesses cannot all slip in before the lockout counts them."""
        ...

    async def update_login_state(self, user: User) -> None:
        """Saves failed_logins, locked_until and last_login_at."""
        ...


class MembershipRepository(Protocol):
    async def add(self, membership: Membership) -> None:
        """Raises AlreadyExists when the user is already a member."""
        ...

    async def get(self, merchant_id: str, user_id: str) -> Membership | None: ...

    async def for_user(self, user_id: str) -> Sequence[Membership]:
        """Every account the user belongs to, oldest membership first."""
        ...

    async def list(
        self, merchant_id: str, *, limit: int, starting_after: str | None = None
    ) -> Sequence[Member]:
        """By user id, newest first; `starting_after` is a user id."""
        ...

    async def owners(self, merchant_id: str, *, for_update: bool = False) -> Sequence[Membership]:
        """The account's owners; `for_update` locks them, so two transactions that each
        remove or demote "another" owner cannot together remove the last one."""
        ...

    async def set_role(self, merchant_id: str, user_id: str, role: Role) -> None: ...

    async def remove(self, merchant_id: str, user_id: str) -> None: ...


class InvitationRepository(Protocol):
    async def add(self, invitation: Invitation) -> None: ...

    async def by_token_hash(self, token_hash: bytes) -> Invitation | None: ...

    async def accept(self, invitation_id: str, user_id: str, at: datetime) -> bool:
        """Marks an open invitation accepted; False when it was accepted or revoked first."""
        ...

    async def get(
        self, merchant_id: str, invitation_id: str, *, for_update: bool = False
    ) -> Invitation | None: ...

    async def list(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        status: InvitationStatus | None = None,
        now: datetime,
    ) -> Sequence[Invitation]:
        """Newest first (by id); `status` as Invitation.status(now) would say."""
        ...

    async def revoke(self, invitation_id: str, at: datetime) -> bool:
        """Marks an unaccepted, unrevoked invitation revoked (expired ones too); False when it
        was accepted or revoked first."""
        ...

    async def reissue(self, invitation_id: str, token_hash: bytes, expires_at: datetime) -> bool:
        """A new token and expiry for an unaccepted, unrevoked invitation; False otherwise."""
        ...


class SessionRepository(Protocol):
    async def add(self, session: AuthSession) -> None: ...

    async def get(self, session_id: str) -> AuthSession | None: ...

    async def revoke(self, session_id: str, at: datetime, reason: str) -> None:
        """Ends the session (idempotent: the first revocation's time and reason stay)."""
        ...

    async def add_refresh_token(self, token: RefreshToken) -> None: ...

    async def refresh_token_by_hash(self, token_hash: bytes) -> RefreshToken | None: ...

    async def use_refresh_token(self, token_id: str, at: datetime) -> bool:
        """Spends an unspent token; False when it was spent already (by a racing call)."""
        ...


class AuditLog(Protocol):
    async def append(self, event: AuditEvent) -> None: ...

    async def recent(
        self,
        *,
        merchant_id: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        limit: int = 100,
    ) -> Sequence[AuditEvent]:
        """Newest first, filtered by whichever of the arguments are given."""
        ...

    async def search(self, query: AuditQuery, *, limit: int) -> Sequence[RecordedAuditEvent]:
        """A merchant's events matching `query`, newest (highest id) first."""
        ...


class RateLimitOverrides(Protocol):
    async def for_merchant(self, merchant_id: str) -> Mapping[str, tuple[str, ...]]:
        """Route class -> the merchant's own limits, for the classes it has any."""
        ...

    async def set(
        self, merchant_id: str, route_class: str, limits: tuple[str, ...], at: datetime
    ) -> None: ...

    async def clear(self, merchant_id: str, route_class: str) -> None: ...


# --- services ---------------------------------------------------------------------------


class AccessScope(Protocol):
    """The access context's repositories in a unit of work (core/unit_of_work.py)."""

    merchants: MerchantRepository
    api_keys: ApiKeyRepository
    users: UserRepository
    memberships: MembershipRepository
    invitations: InvitationRepository
    sessions: SessionRepository
    audit: AuditLog
    rate_limit_overrides: RateLimitOverrides


class PasswordHasher(Protocol):
    """A slow, salted hash (argon2id). Both calls are slow on purpose: run off the loop."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool:
        """False for a wrong password; never raises for one."""
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with weaker parameters than today's."""
        ...


class InvalidAccessToken(Exception):
    """A token that is malformed, forged, expired or not meant for us. The message says
    which, for logs; callers all get the same answer."""


class AccessTokenCodec(Protocol):
    def issue(self, claims: AccessClaims) -> str: ...

    def verify(self, token: str) -> AccessClaims:
        """The claims of a token we signed, for our issuer and audience, not expired.

        Raises InvalidAccessToken otherwise (alg "none", a foreign key, another audience).
        """
        ...


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    # Whole seconds until a refused call could succeed; 0 when allowed.
    retry_after_seconds: int = 0


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: str) -> RateLimitResult:
        """Counts one call against `key` under `limit` ("20/second", "10000/hour").

        Atomic where the counters live (one Lua script in Redis), so several API
        processes sharing them never let through more than `limit` calls; on Redis a
        process may lease a few calls at once and spend them locally, and what it leased
        but did not spend is lost (docs/access.md, "Rate limits": the bound).
        """
        ...


# --- change notification -----------------------------------------------------------------


class KeyChanges(Protocol):
    """Tells a process which API keys were changed by any process: revoked, rolled (its
    expiry set), its allowed_ips or role changed, deleted. Not the usage counts that
    flush_usage writes. A change is told after it commits, by the key's lookup (the clear
    prefix; never the key or its digest).

    A feed that is down tells nothing: when it begins (or begins again) to listen, and
    when it loses its connection, it says that changes may have been missed instead.

    tests/contract/test_key_changes_contract.py is what every implementation must do.
    """

    def follow(self, changed: Callable[[str], None], missed: Callable[[], None]) -> None:
        """From now on: `changed(lookup)` after each committed change of a key, and
        `missed()` whenever changes may have gone untold (listening began, or stopped).
        Both are called on the event loop and must return at once."""
        ...
