"""In-memory repositories of the access context, over the fake unit of work's Tables.

Each mirrors its PostgreSQL twin (adapters/sql/access.py); the contract tests
in tests/contract/test_access_*.py run the same cases against both.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from core.access.audit import AuditEvent, AuditQuery, RecordedAuditEvent
from core.access.members import Invitation, InvitationStatus, Member, Membership
from core.access.roles import Role
from core.access.sessions import AuthSession, RefreshToken
from core.access.users import User
from core.shared.errors import AlreadyExists

if TYPE_CHECKING:
    from tests.fakes.unit_of_work import Tables


class MemoryUsers:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, user: User) -> None:
        if user.id in self._t.users or any(u.email == user.email for u in self._t.users.values()):
            raise AlreadyExists(f"User {user.id!r} already exists.")
        self._t.users[user.id] = copy.deepcopy(user)

    async def get(self, user_id: str) -> User | None:
        return copy.deepcopy(self._t.users.get(user_id))

    async def by_email(self, email: str, *, for_update: bool = False) -> User | None:
        found = next((u for u in self._t.users.values() if u.email == email), None)
        return copy.deepcopy(found)

    async def update_login_state(self, user: User) -> None:
        stored = self._t.users.get(user.id)
        if stored is not None:
            stored.failed_logins = user.failed_logins
            stored.locked_until = user.locked_until
            stored.last_login_at = user.last_login_at


class MemoryMemberships:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, membership: Membership) -> None:
        key = (membership.merchant_id, membership.user_id)
        if key in self._t.memberships:
            raise AlreadyExists("The user is a member already.")
        self._t.memberships[key] = copy.deepcopy(membership)

    async def get(self, merchant_id: str, user_id: str) -> Membership | None:
        return copy.deepcopy(self._t.memberships.get((merchant_id, user_id)))

    async def for_user(self, user_id: str) -> Sequence[Membership]:
        rows = [m for m in self._t.memberships.values() if m.user_id == user_id]
        return copy.deepcopy(sorted(rows, key=lambda m: (m.created, m.merchant_id)))

    async def list(
        self, merchant_id: str, *, limit: int, starting_after: str | None = None
    ) -> Sequence[Member]:
        rows = sorted(
            (
                m
                for m in self._t.memberships.values()
                if m.merchant_id == merchant_id
                and (starting_after is None or m.user_id < starting_after)
            ),
            key=lambda m: m.user_id,
            reverse=True,
        )
        return [
            Member(m.merchant_id, m.user_id, self._t.users[m.user_id].email, m.role, m.created)
            for m in rows[:limit]
        ]

    async def owners(self, merchant_id: str, *, for_update: bool = False) -> Sequence[Membership]:
        return [
            copy.deepcopy(m)
            for m in self._t.memberships.values()
            if m.merchant_id == merchant_id and m.role is Role.OWNER
        ]

    async def set_role(self, merchant_id: str, user_id: str, role: Role) -> None:
        stored = self._t.memberships.get((merchant_id, user_id))
        if stored is not None:
            stored.role = role

    async def remove(self, merchant_id: str, user_id: str) -> None:
        self._t.memberships.pop((merchant_id, user_id), None)


class MemoryInvitations:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, invitation: Invitation) -> None:
        if invitation.id in self._t.invitations:
            raise AlreadyExists(f"Invitation {invitation.id!r} already exists.")
        self._t.invitations[invitation.id] = copy.deepcopy(invitation)

    async def by_token_hash(self, token_hash: bytes) -> Invitation | None:
        found = next((i for i in self._t.invitations.values() if i.token_hash == token_hash), None)
        return copy.deepcopy(found)

    async def accept(self, invitation_id: str, user_id: str, at: datetime) -> bool:
        stored = self._unanswered(invitation_id)
        if stored is None:
            return False
        stored.accepted_at, stored.accepted_by = at, user_id
        return True

    async def get(
        self, merchant_id: str, invitation_id: str, *, for_update: bool = False
    ) -> Invitation | None:
        stored = self._t.invitations.get(invitation_id)
        return copy.deepcopy(stored) if stored and stored.merchant_id == merchant_id else None

    async def list(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        status: InvitationStatus | None = None,
        now: datetime,
    ) -> Sequence[Invitation]:
        rows = sorted(
            (
                i
                for i in self._t.invitations.values()
                if i.merchant_id == merchant_id
                and (starting_after is None or i.id < starting_after)
                and (status is None or i.status(now) is status)
            ),
            key=lambda i: i.id,
            reverse=True,
        )
        return [copy.deepcopy(i) for i in rows[:limit]]

    async def revoke(self, invitation_id: str, at: datetime) -> bool:
        stored = self._unanswered(invitation_id)
        if stored is None:
            return False
        stored.revoked_at = at
        return True

    async def reissue(self, invitation_id: str, token_hash: bytes, expires_at: datetime) -> bool:
        stored = self._unanswered(invitation_id)
        if stored is None:
            return False
        stored.token_hash, stored.expires_at = token_hash, expires_at
        return True

    def _unanswered(self, invitation_id: str) -> Invitation | None:
        stored = self._t.invitations.get(invitation_id)
        if stored is None or stored.accepted_at is not None or stored.revoked_at is not None:
            return None
        return stored


class MemorySessions:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, session: AuthSession) -> None:
        if session.id in self._t.sessions:
            raise AlreadyExists(f"Session {session.id!r} already exists.")
        self._t.sessions[session.id] = copy.deepcopy(session)

    async def get(self, session_id: str) -> AuthSession | None:
        return copy.deepcopy(self._t.sessions.get(session_id))

    async def revoke(self, session_id: str, at: datetime, reason: str) -> None:
        stored = self._t.sessions.get(session_id)
        if stored is not None and stored.revoked_at is None:
            stored.revoked_at, stored.revoke_reason = at, reason

    async def add_refresh_token(self, token: RefreshToken) -> None:
        if any(t.token_hash == token.token_hash for t in self._t.refresh_tokens.values()):
            raise AlreadyExists("Refresh token already exists.")
        self._t.refresh_tokens[token.id] = copy.deepcopy(token)

    async def refresh_token_by_hash(self, token_hash: bytes) -> RefreshToken | None:
        found = next(
            (t for t in self._t.refresh_tokens.values() if t.token_hash == token_hash), None
        )
        return copy.deepcopy(found)

    async def use_refresh_token(self, token_id: str, at: datetime) -> bool:
        stored = self._t.refresh_tokens.get(token_id)
        if stored is None or stored.used_at is not None:
            return False
        stored.used_at = at
        return True


class MemoryAuditLog:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def append(self, event: AuditEvent) -> None:
        self._t.audit_events.append(replace(event, details=dict(event.details)))

    async def recent(
        self,
        *,
        merchant_id: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        limit: int = 100,
    ) -> Sequence[AuditEvent]:
        rows = [
            e
            for e in reversed(self._t.audit_events)
            if (merchant_id is None or e.merchant_id == merchant_id)
            and (actor is None or e.actor == actor)
            and (target is None or e.target == target)
        ]
        return rows[:limit]

    async def search(self, query: AuditQuery, *, limit: int) -> Sequence[RecordedAuditEvent]:
        rows = [
            RecordedAuditEvent(id=i + 1, event=e)
            for i, e in enumerate(self._t.audit_events)
            if e.merchant_id == query.merchant_id
            and (not query.actor or e.actor == query.actor)
            and (not query.action or e.action.value == query.action)
            and (query.occurred_from is None or e.occurred_at >= query.occurred_from)
            and (query.occurred_to is None or e.occurred_at <= query.occurred_to)
            and (query.before_id is None or i + 1 < query.before_id)
        ]
        return rows[::-1][:limit]


class MemoryRateLimitOverrides:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def for_merchant(self, merchant_id: str) -> Mapping[str, tuple[str, ...]]:
        return {c: v for (m, c), v in self._t.rate_limit_overrides.items() if m == merchant_id}

    async def set(
        self, merchant_id: str, route_class: str, limits: tuple[str, ...], at: datetime
    ) -> None:
        self._t.rate_limit_overrides[(merchant_id, route_class)] = tuple(limits)

    async def clear(self, merchant_id: str, route_class: str) -> None:
        self._t.rate_limit_overrides.pop((merchant_id, route_class), None)
