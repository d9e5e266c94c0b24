"""PostgreSQL repositories of the access context: users, members, invitations, sessions,
the audit log, per-merchant rate limits, merchants and API keys. SQLAlchemy Core, one
round trip each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, Select, and_, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.errors import already_exists
from adapters.sql.tables import (
    api_keys,
    audit_events,
    auth_sessions,
    invitations,
    memberships,
    merchants,
    rate_limit_overrides,
    refresh_tokens,
    users,
)
from core.access.audit import Action, AuditEvent, AuditQuery, Outcome, RecordedAuditEvent
from core.access.members import Invitation, InvitationStatus, Member, Membership
from core.access.model import ApiKey, KeyType, Merchant
from core.access.roles import Role
from core.access.sessions import AuthSession, RefreshToken
from core.access.users import User


def _user(row: RowMapping) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        password_hash=row["password_hash"],
        created=row["created"],
        failed_logins=row["failed_logins"],
        locked_until=row["locked_until"],
        last_login_at=row["last_login_at"],
    )


class SqlUsers:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, user: User) -> None:
        try:
            await self._conn.execute(
                insert(users).values(
                    id=user.id,
                    email=user.email,
                    password_hash=user.password_hash,
                    created=user.created,
                    failed_logins=user.failed_logins,
                    locked_until=user.locked_until,
                    last_login_at=user.last_login_at,
                )
            )
        except IntegrityError as error:
            raise already_exists(error, "User", user.id) from error

    async def get(self, user_id: str) -> User | None:
        row = (await self._conn.execute(select(users).where(users.c.id == user_id))).mappings()
        found = row.first()
        return _user(found) if found is not None else None

    async def by_email(self, email: str, *, for_update: bool = False) -> User | None:
        query = select(users).where(users.c.email == email)
        if for_update:
            query = query.with_for_update()
        found = (await self._conn.execute(query)).mappings().first()
        return _user(found) if found is not None else None

    async def update_login_state(self, user: User) -> None:
        await self._conn.execute(
            update(users)
            .where(users.c.id == user.id)
            .values(
                failed_logins=user.failed_logins,
                locked_until=user.locked_until,
                last_login_at=user.last_login_at,
            )
        )


def _membership(row: RowMapping) -> Membership:
    return Membership(row["merchant_id"], row["user_id"], Role(row["role"]), row["created"])


class SqlMemberships:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, membership: Membership) -> None:
        try:
            await self._conn.execute(
                insert(memberships).values(
                    merchant_id=membership.merchant_id,
                    user_id=membership.user_id,
                    role=membership.role.value,
                    created=membership.created,
                )
            )
        except IntegrityError as error:
            raise already_exists(error, "Membership of", membership.user_id) from error

    async def get(self, merchant_id: str, user_id: str) -> Membership | None:
        t = memberships.c
        query = select(memberships).where(t.merchant_id == merchant_id, t.user_id == user_id)
        found = (await self._conn.execute(query)).mappings().first()
        return _membership(found) if found is not None else None

    async def for_user(self, user_id: str) -> Sequence[Membership]:
        t = memberships.c
        query = select(memberships).where(t.user_id == user_id).order_by(t.created, t.merchant_id)
        return [_membership(row) for row in (await self._conn.execute(query)).mappings()]

    async def list(
        self, merchant_id: str, *, limit: int, starting_after: str | None = None
    ) -> Sequence[Member]:
        t = memberships.c
        query = (
            select(t.merchant_id, t.user_id, users.c.email, t.role, t.created)
            .join(users, users.c.id == t.user_id)
            .where(t.merchant_id == merchant_id)
        )
        if starting_after is not None:
            query = query.where(t.user_id < starting_after)
        query = query.order_by(t.user_id.desc()).limit(limit)
        return [
            Member(r.merchant_id, r.user_id, r.email, Role(r.role), r.created)
            for r in await self._conn.execute(query)
        ]

    async def owners(self, merchant_id: str, *, for_update: bool = False) -> Sequence[Membership]:
        t = memberships.c
        query = select(memberships).where(t.merchant_id == merchant_id, t.role == Role.OWNER.value)
        if for_update:
            query = query.with_for_update()
        return [_membership(row) for row in (await self._conn.execute(query)).mappings()]

    async def set_role(self, merchant_id: str, user_id: str, role: Role) -> None:
        t = memberships.c
        await self._conn.execute(
            update(memberships)
            .where(t.merchant_id == merchant_id, t.user_id == user_id)
            .values(role=role.value)
        )

    async def remove(self, merchant_id: str, user_id: str) -> None:
        t = memberships.c
        await self._conn.execute(
            delete(memberships).where(t.merchant_id == merchant_id, t.user_id == user_id)
        )


def _invitation(row: RowMapping) -> Invitation:
    return Invitation(
        id=row["id"],
        merchant_id=row["merchant_id"],
        email=row["email"],
        role=Role(row["role"]),
        token_hash=bytes(row["token_hash"]),
        invited_by=row["invited_by"],
        created=row["created"],
        expires_at=row["expires_at"],
        accepted_at=row["accepted_at"],
        accepted_by=row["accepted_by"],
        revoked_at=row["revoked_at"],
    )


def _invitation_status(status: InvitationStatus, now: datetime) -> ColumnElement[bool]:
    t = invitations.c
    unanswered = and_(t.accepted_at.is_(None), t.revoked_at.is_(None))
    return {
        InvitationStatus.PENDING: and_(unanswered, t.expires_at > now),
        InvitationStatus.EXPIRED: and_(unanswered, t.expires_at <= now),
        InvitationStatus.ACCEPTED: t.accepted_at.is_not(None),
        InvitationStatus.REVOKED: and_(t.accepted_at.is_(None), t.revoked_at.is_not(None)),
    }[status]


class SqlInvitations:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, invitation: Invitation) -> None:
        try:
            await self._conn.execute(
                insert(invitations).values(
                    id=invitation.id,
                    merchant_id=invitation.merchant_id,
                    email=invitation.email,
                    role=invitation.role.value,
                    token_hash=invitation.token_hash,
                    invited_by=invitation.invited_by,
                    created=invitation.created,
                    expires_at=invitation.expires_at,
                    accepted_at=invitation.accepted_at,
                    accepted_by=invitation.accepted_by,
                    revoked_at=invitation.revoked_at,
                )
            )
        except IntegrityError as error:
            raise already_exists(error, "Invitation", invitation.id) from error

    async def by_token_hash(self, token_hash: bytes) -> Invitation | None:
        query = select(invitations).where(invitations.c.token_hash == token_hash)
        found = (await self._conn.execute(query)).mappings().first()
        return _invitation(found) if found is not None else None

    async def accept(self, invitation_id: str, user_id: str, at: datetime) -> bool:
        t = invitations.c
        accepted = await self._conn.execute(
            update(invitations)
            .where(t.id == invitation_id, t.accepted_at.is_(None), t.revoked_at.is_(None))
            .values(accepted_at=at, accepted_by=user_id)
            .returning(t.id)
        )
        return accepted.first() is not None

    async def get(
        self, merchant_id: str, invitation_id: str, *, for_update: bool = False
    ) -> Invitation | None:
        t = invitations.c
        query = select(invitations).where(t.merchant_id == merchant_id, t.id == invitation_id)
        if for_update:
            query = query.with_for_update()
        found = (await self._conn.execute(query)).mappings().first()
        return _invitation(found) if found is not None else None

    async def list(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        status: InvitationStatus | None = None,
        now: datetime,
    ) -> Sequence[Invitation]:
        t = invitations.c
        query = select(invitations).where(t.merchant_id == merchant_id)
        if starting_after is not None:
            query = query.where(t.id < starting_after)
        if status is not None:
            query = query.where(_invitation_status(status, now))
        rows = await self._conn.execute(query.order_by(t.id.desc()).limit(limit))
        return [_invitation(row) for row in rows.mappings()]

    async def revoke(self, invitation_id: str, at: datetime) -> bool:
        t = invitations.c
        revoked = await self._conn.execute(
            update(invitations)
            .where(t.id == invitation_id, t.accepted_at.is_(None), t.revoked_at.is_(None))
            .values(revoked_at=at)
            .returning(t.id)
        )
        return revoked.first() is not None

    async def reissue(self, invitation_id: str, token_hash: bytes, expires_at: datetime) -> bool:
        t = invitations.c
        reissued = await self._conn.execute(
            update(invitations)
            .where(t.id == invitation_id, t.accepted_at.is_(None), t.revoked_at.is_(None))
            .values(token_hash=token_hash, expires_at=expires_at)
            .returning(t.id)
        )
        return reissued.first() is not None


class SqlSessions:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, session: AuthSession) -> None:
        try:
            await self._conn.execute(
                insert(auth_sessions).values(
                    id=session.id,
                    user_id=session.user_id,
                    created=session.created,
                    expires_at=session.expires_at,
                    revoked_at=session.revoked_at,
                    revoke_reason=session.revoke_reason,
                )
            )
        except IntegrityError as error:
            raise already_exists(error, "Session", session.id) from error

    async def get(self, session_id: str) -> AuthSession | None:
        query = select(auth_sessions).where(auth_sessions.c.id == session_id)
        row = (await self._conn.execute(query)).mappings().first()
        if row is None:
            return None
        return AuthSession(
            id=row["id"],
            user_id=row["user_id"],
            created=row["created"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
            revoke_reason=row["revoke_reason"],
        )

    async def revoke(self, session_id: str, at: datetime, reason: str) -> None:
        t = auth_sessions.c
        await self._conn.execute(
            update(auth_sessions)
            .where(t.id == session_id, t.revoked_at.is_(None))
            .values(revoked_at=at, revoke_reason=reason)
        )

    async def add_refresh_token(self, token: RefreshToken) -> None:
        try:
            await self._conn.execute(
                insert(refresh_tokens).values(
                    id=token.id,
                    session_id=token.session_id,
                    token_hash=token.token_hash,
                    issued_at=token.issued_at,
                    expires_at=token.expires_at,
                    used_at=token.used_at,
                )
            )
        except IntegrityError as error:
            raise already_exists(error, "Refresh token", token.id) from error

    async def refresh_token_by_hash(self, token_hash: bytes) -> RefreshToken | None:
        query = select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
        row = (await self._conn.execute(query)).mappings().first()
        if row is None:
            return None
        return RefreshToken(
            id=row["id"],
            session_id=row["session_id"],
            token_hash=bytes(row["token_hash"]),
            issued_at=row["issued_at"],
            expires_at=row["expires_at"],
            used_at=row["used_at"],
        )

    async def use_refresh_token(self, token_id: str, at: datetime) -> bool:
        # A conditional UPDATE: of two transactions spending one token, the second waits
        # for the first's row lock, then finds used_at set and updates nothing.
        t = refresh_tokens.c
        spent = await self._conn.execute(
            update(refresh_tokens)
            .where(t.id == token_id, t.used_at.is_(None))
            .values(used_at=at)
            .returning(t.id)
        )
        return spent.first() is not None


class SqlAuditLog:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def append(self, event: AuditEvent) -> None:
        await self._conn.execute(
            insert(audit_events).values(
                occurred_at=event.occurred_at,
                action=event.action.value,
                outcome=event.outcome.value,
                actor=event.actor,
                origin=event.origin,
                merchant_id=event.merchant_id,
                target=event.target,
                details=dict(event.details),
            )
        )

    async def recent(
        self,
        *,
        merchant_id: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        limit: int = 100,
    ) -> Sequence[AuditEvent]:
        t = audit_events.c
        query = select(audit_events)
        if merchant_id is not None:
            query = query.where(t.merchant_id == merchant_id)
        if actor is not None:
            query = query.where(t.actor == actor)
        if target is not None:
            query = query.where(t.target == target)
        query = query.order_by(t.id.desc()).limit(limit)
        return [_audit_event(row) for row in (await self._conn.execute(query)).mappings()]

    async def search(self, query: AuditQuery, *, limit: int) -> Sequence[RecordedAuditEvent]:
        # (merchant_id, id DESC) or (merchant_id, action, id DESC) walks the newest first;
        # time bounds are filters on that walk (ids grow with time).
        t = audit_events.c
        statement = select(audit_events).where(t.merchant_id == query.merchant_id)
        if query.actor:
            statement = statement.where(t.actor == query.actor)
        if query.action:
            statement = statement.where(t.action == query.action)
        if query.occurred_from is not None:
            statement = statement.where(t.occurred_at >= query.occurred_from)
        if query.occurred_to is not None:
            statement = statement.where(t.occurred_at <= query.occurred_to)
        if query.before_id is not None:
            statement = statement.where(t.id < query.before_id)
        statement = statement.order_by(t.id.desc()).limit(limit)
        return [
            RecordedAuditEvent(id=row["id"], event=_audit_event(row))
            for row in (await self._conn.execute(statement)).mappings()
        ]


def _audit_event(row: RowMapping) -> AuditEvent:
    return AuditEvent(
        occurred_at=row["occurred_at"],
        action=Action(row["action"]),
        outcome=Outcome(row["outcome"]),
        actor=row["actor"],
        origin=row["origin"],
        merchant_id=row["merchant_id"],
        target=row["target"],
        details=dict(row["details"]),
    )


class SqlRateLimitOverrides:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def for_merchant(self, merchant_id: str) -> Mapping[str, tuple[str, ...]]:
        t = rate_limit_overrides.c
        query = select(t.route_class, t.limits).where(t.merchant_id == merchant_id)
        return {row.route_class: tuple(row.limits) for row in await self._conn.execute(query)}

    async def set(
        self, merchant_id: str, route_class: str, limits: tuple[str, ...], at: datetime
    ) -> None:
        statement = pg_insert(rate_limit_overrides).values(
            merchant_id=merchant_id, route_class=route_class, limits=list(limits), updated_at=at
        )
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["merchant_id", "route_class"],
                set_={"limits": statement.excluded.limits, "updated_at": at},
            )
        )

    async def clear(self, merchant_id: str, route_class: str) -> None:
        t = rate_limit_overrides.c
        await self._conn.execute(
            delete(rate_limit_overrides).where(
                t.merchant_id == merchant_id, t.route_class == route_class
            )
        )


# --- merchants and API keys ------------------------------------------------------------


class SqlMerchants:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, merchant: Merchant) -> None:
        try:
            await self._conn.execute(
                insert(merchants).values(
                    id=merchant.id, name=merchant.name, created=merchant.created
                )
            )
        except IntegrityError as error:
            raise already_exists(error, "Merchant", merchant.id) from error

    async def get(self, merchant_id: str) -> Merchant | None:
        row = (
            await self._conn.execute(select(merchants).where(merchants.c.id == merchant_id))
        ).first()
        return Merchant(id=row.id, name=row.name, created=row.created) if row else None


def _api_key(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        merchant_id=row["merchant_id"],
        type=KeyType(row["type"]),
        role=Role(row["role"]) if row["role"] is not None else None,
        livemode=row["livemode"],
        lookup=row["lookup"],
        last4=row["last4"],
        secret_hash=bytes(row["secret_hash"]),
        created=row["created"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
        usage_count=row["usage_count"],
        expires_at=row["expires_at"],
        publishable_key=row["publishable_key"] or "",
        allowed_ips=tuple(row["allowed_ips"]),
    )


class SqlApiKeys:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def _select(self, query: Select[Any]) -> list[ApiKey]:
        return [_api_key(row) for row in (await self._conn.execute(query)).mappings()]

    async def add(self, key: ApiKey) -> None:
        try:
            await self._conn.execute(
                insert(api_keys).values(
                    id=key.id,
                    merchant_id=key.merchant_id,
                    type=key.type.value,
                    role=key.role.value if key.role is not None else None,
                    livemode=key.livemode,
                    lookup=key.lookup,
                    last4=key.last4,
                    secret_hash=key.secret_hash,
                    created=key.created,
                    revoked_at=key.revoked_at,
                    last_used_at=key.last_used_at,
                    usage_count=key.usage_count,
                    expires_at=key.expires_at,
                    publishable_key=key.publishable_key or None,
                    allowed_ips=list(key.allowed_ips),
                )
            )
        except IntegrityError as error:
            raise already_exists(error, "API key", key.id) from error

    async def by_lookup(self, lookup: str) -> Sequence[ApiKey]:
        return await self._select(select(api_keys).where(api_keys.c.lookup == lookup))

    async def get(self, merchant_id: str, key_id: str) -> ApiKey | None:
        rows = await self._select(
            select(api_keys).where(api_keys.c.id == key_id, api_keys.c.merchant_id == merchant_id)
        )
        return rows[0] if rows else None

    async def list(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        livemode: bool | None = None,
    ) -> Sequence[ApiKey]:
        query = select(api_keys).where(api_keys.c.merchant_id == merchant_id)
        if livemode is not None:
            query = query.where(api_keys.c.livemode.is_(livemode))
        if starting_after is not None:
            query = query.where(api_keys.c.id < starting_after)
        return await self._select(query.order_by(api_keys.c.id.desc()).limit(limit))

    async def revoke(self, merchant_id: str, key_id: str, at: datetime) -> None:
        t = api_keys.c
        await self._conn.execute(
            update(api_keys)
            .where(t.id == key_id, t.merchant_id == merchant_id, t.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    async def expire(self, merchant_id: str, key_id: str, at: datetime) -> None:
        t = api_keys.c
        await self._conn.execute(
            update(api_keys)
            .where(t.id == key_id, t.merchant_id == merchant_id, t.revoked_at.is_(None))
            .values(expires_at=at)
        )

    async def set_allowed_ips(
        self, merchant_id: str, key_id: str, allowed_ips: tuple[str, ...]
    ) -> None:
        t = api_keys.c
        await self._conn.execute(
            update(api_keys)
            .where(t.id == key_id, t.merchant_id == merchant_id)
            .values(allowed_ips=list(allowed_ips))
        )

    async def record_use(self, key_id: str, at: datetime, count: int = 1) -> None:
        # GREATEST ignores NULL, and keeps last_used_at from moving backwards when two
        # requests with the same key commit out of order.
        t = api_keys.c
        await self._conn.execute(
            update(api_keys)
            .where(t.id == key_id)
            .values(
                last_used_at=func.greatest(t.last_used_at, at), usage_count=t.usage_count + count
            )
        )
