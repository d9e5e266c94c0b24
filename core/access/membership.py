"""Members of a merchant account: invitations, roles, removal.

Two rules hold everywhere: nobody grants, changes or removes a role above their own
(roles.may_grant), and an account keeps at least one owner. The owner count is checked
with the owners' rows locked, so two owners removing each other at the same moment
cannot both succeed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.access.audit import Action, caller_event
from core.access.members import (
    INVITATION_TOKEN_PREFIX,
    INVITATION_TTL,
    Invitation,
    InvitationStatus,
    Member,
    Membership,
)
from core.access.model import Principal
from core.access.roles import Role, may_grant
from core.access.sessions import hash_token
from core.access.users import is_valid_email, normalize_email
from core.shared.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Violations,
)
from core.shared.ids import has_prefix
from core.shared.pagination import Page, page_limit, unknown_cursor
from core.shared.ports import Clock, IdGenerator
from core.unit_of_work import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # shown once, to the inviter, who passes it on

    def __repr__(self) -> str:
        return f"IssuedInvitation(invitation={self.invitation.id!r}, token='**********')"


class Members:
    def __init__(self, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock

    async def invite(self, caller: Principal, email: str, role: Role | None) -> IssuedInvitation:
        violations = Violations()
        email = normalize_email(email)
        if not email:
            violations.missing("email")
        elif not is_valid_email(email):
            violations.add("email", "is not an email address")
        if role is None:
            violations.missing("role", "is required: OWNER, ADMIN, DEVELOPER, MANAGER or STAFF")
        violations.raise_if_any()
        assert role is not None
        _check_grantable(caller, role)

        now = self._clock.now()
        token = INVITATION_TOKEN_PREFIX + self._ids.secret(32)
        invitation = Invitation(
            id=self._ids.new("inv"),
            merchant_id=caller.merchant_id,
            email=email,
            role=role,
            token_hash=hash_token(token),
            invited_by=caller.actor,
            created=now,
            expires_at=now + INVITATION_TTL,
        )
        async with self._uow() as uow:
            await uow.invitations.add(invitation)
            await uow.audit.append(
                caller_event(caller, Action.MEMBER_INVITE, now, target=invitation.id,
                             details={"email": email, "role": role.value})
            )  # fmt: skip
            await uow.commit()
        return IssuedInvitation(invitation, token)

    async def accept(self, caller: Principal, token: str) -> Member:
        """The calling user joins the account that invited their email address.

        An unknown, expired, used or someone else's invitation is NOT_FOUND, all alike.
        """
        violations = Violations()
        if not token:
            violations.missing("token")
        violations.raise_if_any()
        missing = NotFound("No such invitation, or it has expired.", metadata={"param": "token"})
        if not caller.is_user or not token.startswith(INVITATION_TOKEN_PREFIX) or len(token) > 200:
            raise missing
        now = self._clock.now()
        async with self._uow() as uow:
            invitation = await uow.invitations.by_token_hash(hash_token(token))
            user = await uow.users.get(caller.user_id)
            if (
                invitation is None
                or user is None
                or not invitation.is_open(now)
                or invitation.email != user.email
            ):
                raise missing
            if await uow.memberships.get(invitation.merchant_id, user.id) is not None:
                raise AlreadyExists(
                    "You are a member of this account already.", reason="ALREADY_A_MEMBER"
                )
            if not await uow.invitations.accept(invitation.id, user.id, now):
                raise missing
            membership = Membership(invitation.merchant_id, user.id, invitation.role, now)
            await uow.memberships.add(membership)
            joined = caller_event(
                caller, Action.MEMBER_JOIN, now, target=invitation.id,
                details={"role": invitation.role.value},
            )  # fmt: skip
            await uow.audit.append(replace(joined, merchant_id=invitation.merchant_id))
            await uow.commit()
        return Member(membership.merchant_id, user.id, user.email, membership.role, now)

    def status(self, invitation: Invitation) -> InvitationStatus:
        return invitation.status(self._clock.now())

    async def invitations(
        self,
        caller: Principal,
        *,
        limit: int = 0,
        starting_after: str = "",
        status: InvitationStatus | None = None,
    ) -> Page[Invitation]:
        """The account's invitations, newest first; they carry no token (only its hash)."""
        violations = Violations()
        limit = page_limit(limit, violations)
        violations.raise_if_any()
        async with self._uow() as uow:
            if (
                starting_after
                and await uow.invitations.get(caller.merchant_id, starting_after) is None
            ):
                raise unknown_cursor()
            rows = await uow.invitations.list(
                caller.merchant_id,
                limit=limit + 1,
                starting_after=starting_after or None,
                status=status,
                now=self._clock.now(),
            )
        return Page.from_overfetch(list(rows), limit)

    async def revoke_invitation(self, caller: Principal, invitation_id: str) -> Invitation:
        """Closes a pending or expired invitation; its link is refused from now on."""
        now = self._clock.now()
        async with self._uow() as uow:
            invitation = await _invitation(uow, caller.merchant_id, invitation_id)
            _check_grantable(caller, invitation.role)
            if invitation.status(now) is InvitationStatus.REVOKED:
                return invitation
            if not await uow.invitations.revoke(invitation.id, now):
                raise _not_revocable()
            await uow.audit.append(
                caller_event(caller, Action.MEMBER_INVITE_REVOKE, now, target=invitation.id,
                             details={"email": invitation.email, "role": invitation.role.value})
            )  # fmt: skip
            await uow.commit()
        return replace(invitation, revoked_at=now)

    async def resend_invitation(self, caller: Principal, invitation_id: str) -> IssuedInvitation:
        """A new link for a pending or expired invitation, valid 7 days; the old one dies."""
        now = self._clock.now()
        token = INVITATION_TOKEN_PREFIX + self._ids.secret(32)
        async with self._uow() as uow:
            invitation = await _invitation(uow, caller.merchant_id, invitation_id)
            _check_grantable(caller, invitation.role)
            expires_at = now + INVITATION_TTL
            if not await uow.invitations.reissue(invitation.id, hash_token(token), expires_at):
                raise FailedPrecondition(
                    f"The invitation is {invitation.status(now).value.lower()}: "
                    "invite the address again instead.",
                    reason="INVITATION_NOT_PENDING",
                    metadata={"param": "id", "status": invitation.status(now).value},
                )
            await uow.audit.append(
                caller_event(caller, Action.MEMBER_INVITE_RESEND, now, target=invitation.id,
                             details={"email": invitation.email, "role": invitation.role.value})
            )  # fmt: skip
            await uow.commit()
        reissued = replace(invitation, token_hash=hash_token(token), expires_at=expires_at)
        return IssuedInvitation(reissued, token)

    async def list(
        self, caller: Principal, *, limit: int = 0, starting_after: str = ""
    ) -> Page[Member]:
        violations = Violations()
        limit = page_limit(limit, violations)
        violations.raise_if_any()
        async with self._uow() as uow:
            if (
                starting_after
                and await uow.memberships.get(caller.merchant_id, starting_after) is None
            ):
                raise unknown_cursor()
            rows = await uow.memberships.list(
                caller.merchant_id, limit=limit + 1, starting_after=starting_after or None
            )
        return Page.from_overfetch(list(rows), limit)

    async def update_role(self, caller: Principal, user_id: str, role: Role | None) -> Member:
        violations = Violations()
        if not user_id:
            violations.missing("user_id")
        if role is None:
            violations.missing("role", "is required: OWNER, ADMIN, DEVELOPER, MANAGER or STAFF")
        violations.raise_if_any()
        assert role is not None
        now = self._clock.now()
        async with self._uow() as uow:
            owners = await uow.memberships.owners(caller.merchant_id, for_update=True)
            current = await _member(uow, caller.merchant_id, user_id)
            _check_grantable(caller, current.role)
            _check_grantable(caller, role)
            if current.role is Role.OWNER and role is not Role.OWNER and len(owners) <= 1:
                raise _last_owner()
            if role is not current.role:
                await uow.memberships.set_role(caller.merchant_id, user_id, role)
                await uow.audit.append(
                    caller_event(caller, Action.MEMBER_ROLE_CHANGE, now, target=user_id,
                                 details={"from": current.role.value, "to": role.value})
                )  # fmt: skip
                await uow.commit()
        return Member(current.merchant_id, user_id, current.email, role, current.created)

    async def remove(self, caller: Principal, user_id: str) -> Member:
        violations = Violations()
        if not user_id:
            violations.missing("user_id")
        violations.raise_if_any()
        now = self._clock.now()
        async with self._uow() as uow:
            owners = await uow.memberships.owners(caller.merchant_id, for_update=True)
            current = await _member(uow, caller.merchant_id, user_id)
            _check_grantable(caller, current.role)
            if current.role is Role.OWNER and len(owners) <= 1:
                raise _last_owner()
            await uow.memberships.remove(caller.merchant_id, user_id)
            await uow.audit.append(
                caller_event(caller, Action.MEMBER_REMOVE, now, target=user_id,
                             details={"role": current.role.value})
            )  # fmt: skip
            await uow.commit()
        return current


async def _member(uow: UnitOfWork, merchant_id: str, user_id: str) -> Member:
    membership = await uow.memberships.get(merchant_id, user_id)
    user = await uow.users.get(user_id) if membership else None
    if membership is None or user is None:
        shown = f": {user_id!r}" if has_prefix(user_id, "usr") else ""
        raise NotFound(f"No such member{shown}.", metadata={"param": "user_id"})
    return Member(merchant_id, user_id, user.email, membership.role, membership.created)


async def _invitation(uow: UnitOfWork, merchant_id: str, invitation_id: str) -> Invitation:
    invitation = None
    if invitation_id:
        invitation = await uow.invitations.get(merchant_id, invitation_id, for_update=True)
    if invitation is None:
        shown = f": {invitation_id!r}" if has_prefix(invitation_id, "inv") else ""
        raise NotFound(f"No such invitation{shown}.", metadata={"param": "id"})
    return invitation


def _not_revocable() -> FailedPrecondition:
    return FailedPrecondition(
        "The invitation was accepted: remove the member instead.",
        reason="INVITATION_NOT_PENDING",
        metadata={"param": "id", "status": InvitationStatus.ACCEPTED.value},
    )


def _check_grantable(caller: Principal, role: Role) -> None:
    if not may_grant(caller.role, role):
        raise PermissionDenied(
            f"Your role cannot grant or change the role {role.value}.",
            reason="ROLE_NOT_GRANTABLE",
            metadata={"param": "role"},
        )


def _last_owner() -> FailedPrecondition:
    return FailedPrecondition(
        "An account keeps at least one owner: make another member OWNER first.",
        reason="LAST_OWNER",
    )
