"""Users, memberships, invitations, sessions, the audit log and rate-limit overrides:
PostgreSQL and the in-memory fake agree."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from adapters.system import RandomIds
from core.access.audit import Action, AuditEvent, Outcome
from core.access.members import Invitation, InvitationStatus, Member, Membership
from core.access.roles import Role
from core.access.sessions import AuthSession, RefreshToken
from core.access.users import User
from core.shared.errors import AlreadyExists
from core.unit_of_work import UnitOfWorkFactory
from tests.contract.helpers import T0, add_merchant, later

# A syntactically real argon2id string: the database refuses anything else.
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"


def new_user(ids: RandomIds, email: str | None = None) -> User:
    user_id = ids.new("usr")
    return User(id=user_id, email=email or f"{user_id}@example.com", password_hash=HASH, created=T0)


async def add_user(
    uow_factory: UnitOfWorkFactory, ids: RandomIds, email: str | None = None
) -> User:
    user = new_user(ids, email)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.commit()
    return user


def sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


# --- users ------------------------------------------------------------------------------


async def test_users_by_id_and_email(any_uow_factory: UnitOfWorkFactory, ids: RandomIds) -> None:
    user = await add_user(any_uow_factory, ids)
    async with any_uow_factory() as uow:
        assert await uow.users.get(user.id) == user
        assert await uow.users.by_email(user.email) == user
        assert await uow.users.by_email(user.email, for_update=True) == user
        assert await uow.users.by_email("nobody@example.com") is None
        assert await uow.users.get(ids.new("usr")) is None


async def test_an_email_is_taken_once(any_uow_factory: UnitOfWorkFactory, ids: RandomIds) -> None:
    user = await add_user(any_uow_factory, ids)
    async with any_uow_factory() as uow:
        with pytest.raises(AlreadyExists):
            await uow.users.add(new_user(ids, user.email))


async def test_login_state_is_saved(any_uow_factory: UnitOfWorkFactory, ids: RandomIds) -> None:
    user = await add_user(any_uow_factory, ids)
    changed = replace(user, failed_logins=3, locked_until=later(60), last_login_at=later(1))
    async with any_uow_factory() as uow:
        await uow.users.update_login_state(changed)
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.users.get(user.id) == changed


# --- memberships ------------------------------------------------------------------------


async def test_memberships_per_account_and_per_user(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    other = await add_merchant(any_uow_factory, ids)
    users = [await add_user(any_uow_factory, ids) for _ in range(3)]
    async with any_uow_factory() as uow:
        await uow.memberships.add(Membership(merchant_id, users[0].id, Role.OWNER, T0))
        await uow.memberships.add(Membership(merchant_id, users[1].id, Role.STAFF, later(1)))
        await uow.memberships.add(Membership(merchant_id, users[2].id, Role.OWNER, later(2)))
        await uow.memberships.add(Membership(other, users[0].id, Role.DEVELOPER, later(3)))
        await uow.commit()

    async with any_uow_factory() as uow:
        with pytest.raises(AlreadyExists):
            await uow.memberships.add(Membership(merchant_id, users[0].id, Role.STAFF, T0))
    async with any_uow_factory() as uow:
        assert await uow.memberships.get(merchant_id, users[1].id) == Membership(
            merchant_id, users[1].id, Role.STAFF, later(1)
        )
        assert await uow.memberships.get(other, users[1].id) is None
        assert [m.merchant_id for m in await uow.memberships.for_user(users[0].id)] == [
            merchant_id, other,
        ]  # fmt: skip
        owners = await uow.memberships.owners(merchant_id, for_update=True)
        assert sorted(m.user_id for m in owners) == sorted([users[0].id, users[2].id])
        first = await uow.memberships.list(merchant_id, limit=2)
        rest = await uow.memberships.list(merchant_id, limit=2, starting_after=first[-1].user_id)
    assert first == [
        Member(merchant_id, users[2].id, users[2].email, Role.OWNER, later(2)),
        Member(merchant_id, users[1].id, users[1].email, Role.STAFF, later(1)),
    ]
    assert [m.user_id for m in rest] == [users[0].id]


async def test_role_changes_and_removal_touch_one_account(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    other = await add_merchant(any_uow_factory, ids)
    user = await add_user(any_uow_factory, ids)
    async with any_uow_factory() as uow:
        await uow.memberships.add(Membership(merchant_id, user.id, Role.STAFF, T0))
        await uow.memberships.add(Membership(other, user.id, Role.STAFF, T0))
        await uow.memberships.set_role(merchant_id, user.id, Role.ADMIN)
        await uow.memberships.remove(other, user.id)
        await uow.commit()
    async with any_uow_factory() as uow:
        assert [(m.merchant_id, m.role) for m in await uow.memberships.for_user(user.id)] == [
            (merchant_id, Role.ADMIN)
        ]


# --- invitations ------------------------------------------------------------------------


async def test_an_invitation_is_found_by_token_hash_and_accepted_once(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    user = await add_user(any_uow_factory, ids)
    invitation = Invitation(
        id=ids.new("inv"), merchant_id=merchant_id, email=user.email, role=Role.DEVELOPER,
        token_hash=sha(ids.new("inv")), invited_by="usr_owner", created=T0, expires_at=later(600),
    )  # fmt: skip
    async with any_uow_factory() as uow:
        await uow.invitations.add(invitation)
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.invitations.by_token_hash(invitation.token_hash) == invitation
        assert await uow.invitations.by_token_hash(sha("other")) is None
        assert await uow.invitations.accept(invitation.id, user.id, later(5)) is True
        assert await uow.invitations.accept(invitation.id, user.id, later(6)) is False
        await uow.commit()
    async with any_uow_factory() as uow:
        stored = await uow.invitations.by_token_hash(invitation.token_hash)
    assert stored == replace(invitation, accepted_at=later(5), accepted_by=user.id)


async def test_invitations_list_by_status_newest_first_and_are_revoked_or_reissued(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    user = await add_user(any_uow_factory, ids)
    other_merchant = await add_merchant(any_uow_factory, ids)
    base = ids.new("inv")

    def invitation(n: int, merchant: str = merchant_id) -> Invitation:
        return Invitation(
            id=f"{base}{n}", merchant_id=merchant, email=f"p{n}@example.com",
            role=Role.STAFF, token_hash=sha(ids.new("tok")), invited_by="usr_owner",
            created=later(n), expires_at=later(600 + n),
        )  # fmt: skip

    # ids grow with n: the list is newest first by id.
    accepted, revoked, expired, pending, foreign = (
        invitation(1), invitation(2), replace(invitation(3), expires_at=later(10)),
        invitation(4), invitation(5, other_merchant),
    )  # fmt: skip
    async with any_uow_factory() as uow:
        for each in (accepted, revoked, expired, pending, foreign):
            await uow.invitations.add(each)
        assert await uow.invitations.accept(accepted.id, user.id, later(20)) is True
        assert await uow.invitations.revoke(revoked.id, later(21)) is True
        await uow.commit()

    now = later(100)
    async with any_uow_factory() as uow:
        listed = await uow.invitations.list(merchant_id, limit=10, now=now)
        assert [i.id for i in listed] == [pending.id, expired.id, revoked.id, accepted.id]
        assert [i.status(now) for i in listed] == [
            InvitationStatus.PENDING, InvitationStatus.EXPIRED,
            InvitationStatus.REVOKED, InvitationStatus.ACCEPTED,
        ]  # fmt: skip
        for status, expected in (
            (InvitationStatus.PENDING, pending), (InvitationStatus.EXPIRED, expired),
            (InvitationStatus.REVOKED, revoked), (InvitationStatus.ACCEPTED, accepted),
        ):  # fmt: skip
            found = await uow.invitations.list(merchant_id, limit=10, status=status, now=now)
            assert [i.id for i in found] == [expected.id]
        page = await uow.invitations.list(merchant_id, limit=2, starting_after=expired.id, now=now)
        assert [i.id for i in page] == [revoked.id, accepted.id]
        assert await uow.invitations.get(merchant_id, foreign.id) is None
        assert await uow.invitations.get(merchant_id, revoked.id, for_update=True) == replace(
            revoked, revoked_at=later(21)
        )

        # Neither an accepted nor a revoked invitation is revoked, re-issued or accepted.
        assert await uow.invitations.revoke(accepted.id, later(30)) is False
        assert await uow.invitations.revoke(revoked.id, later(30)) is False
        assert await uow.invitations.reissue(revoked.id, sha("new"), later(900)) is False
        assert await uow.invitations.accept(revoked.id, user.id, later(30)) is False
        # An expired one is re-issued: a new token and expiry, the old token gone.
        assert await uow.invitations.reissue(expired.id, sha("new"), later(900)) is True
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.invitations.by_token_hash(expired.token_hash) is None
        reissued = await uow.invitations.by_token_hash(sha("new"))
    assert reissued == replace(expired, token_hash=sha("new"), expires_at=later(900))


# --- sessions and refresh tokens --------------------------------------------------------


async def test_sessions_and_refresh_tokens(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds
) -> None:
    user = await add_user(any_uow_factory, ids)
    session = AuthSession(ids.new("ses"), user.id, T0, later(3600))
    token = RefreshToken(ids.new("rt"), session.id, sha(ids.new("rt")), T0, later(600))
    async with any_uow_factory() as uow:
        await uow.sessions.add(session)
        await uow.sessions.add_refresh_token(token)
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.sessions.get(session.id) == session
        assert await uow.sessions.refresh_token_by_hash(token.token_hash) == token
        assert await uow.sessions.refresh_token_by_hash(sha("nope")) is None
        assert await uow.sessions.use_refresh_token(token.id, later(1)) is True
        assert await uow.sessions.use_refresh_token(token.id, later(2)) is False
        await uow.sessions.revoke(session.id, later(3), "logout")
        await uow.sessions.revoke(session.id, later(4), "again")  # the first one stays
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.sessions.get(session.id) == replace(
            session, revoked_at=later(3), revoke_reason="logout"
        )
        assert await uow.sessions.refresh_token_by_hash(token.token_hash) == replace(
            token, used_at=later(1)
        )


async def test_an_uncommitted_spend_is_rolled_back(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds
) -> None:
    user = await add_user(any_uow_factory, ids)
    session = AuthSession(ids.new("ses"), user.id, T0, later(3600))
    token = RefreshToken(ids.new("rt"), session.id, sha(ids.new("rt")), T0, later(600))
    async with any_uow_factory() as uow:
        await uow.sessions.add(session)
        await uow.sessions.add_refresh_token(token)
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.sessions.use_refresh_token(token.id, later(1))
    async with any_uow_factory() as uow:
        assert await uow.sessions.use_refresh_token(token.id, later(2))


# --- audit log --------------------------------------------------------------------------


async def test_audit_events_read_back_newest_first_by_filter(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    actor = ids.new("usr")
    events = [
        AuditEvent(T0, Action.LOGIN, Outcome.FAILURE, "anonymous", "10.0.0.1",
                   target=f"{actor}@example.com", details={"reason": "unknown_email"}),
        AuditEvent(later(1), Action.LOGIN, Outcome.SUCCESS, actor, "10.0.0.1"),
        AuditEvent(later(2), Action.API_KEY_CREATE, Outcome.SUCCESS, actor, "::1",
                   merchant_id=merchant_id, target="key_1", details={"role": "STAFF"}),
    ]  # fmt: skip
    async with any_uow_factory() as uow:
        for event in events:
            await uow.audit.append(event)
        await uow.commit()
    async with any_uow_factory() as uow:
        assert list(await uow.audit.recent(actor=actor)) == [events[2], events[1]]
        assert list(await uow.audit.recent(merchant_id=merchant_id)) == [events[2]]
        assert list(await uow.audit.recent(target=f"{actor}@example.com")) == [events[0]]
        assert list(await uow.audit.recent(actor=actor, limit=1)) == [events[2]]


# --- rate-limit overrides ---------------------------------------------------------------


async def test_rate_limit_overrides_set_replace_clear(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    other = await add_merchant(any_uow_factory, ids)
    async with any_uow_factory() as uow:
        await uow.rate_limit_overrides.set(merchant_id, "payments_create", ("5/second",), T0)
        await uow.rate_limit_overrides.set(
            merchant_id, "payments_create", ("50/second", "1000/hour"), later(1)
        )
        await uow.rate_limit_overrides.set(merchant_id, "default", ("7/second",), T0)
        await uow.rate_limit_overrides.set(other, "default", ("1/second",), T0)
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.rate_limit_overrides.for_merchant(merchant_id) == {
            "payments_create": ("50/second", "1000/hour"),
            "default": ("7/second",),
        }
        await uow.rate_limit_overrides.clear(merchant_id, "default")
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.rate_limit_overrides.for_merchant(merchant_id) == {
            "payments_create": ("50/second", "1000/hour")
        }
        assert await uow.rate_limit_overrides.for_merchant(ids.new("acct")) == {}
