"""Pending invitations: listed without their tokens, revoked, re-sent; a revoked or
re-sent link is refused like an unknown one."""

from __future__ import annotations

import pytest

from core.access.audit import Action, AuditQuery
from core.access.members import InvitationStatus
from core.access.roles import Role
from core.shared.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from tests.unit.access.test_membership import World, world

__all__ = ["world"]  # the fixture, shared with the membership tests


async def test_the_list_shows_each_invitation_with_its_status_and_no_token(world: World) -> None:
    owner = world.as_member(world.owner.user.id, Role.OWNER)
    dev = await world.user("dev@example.com")
    accepted = await world.members.invite(owner, "dev@example.com", Role.DEVELOPER)
    pending = await world.members.invite(owner, "staff@example.com", Role.STAFF)
    await world.members.accept(world.as_member(dev.user.id, None, ""), accepted.token)

    everything = await world.members.invitations(owner)
    assert [(i.email, world.members.status(i)) for i in everything.data] == [
        ("staff@example.com", InvitationStatus.PENDING),
        ("dev@example.com", InvitationStatus.ACCEPTED),
    ]
    assert all(i.invited_by == world.owner.user.id for i in everything.data)
    assert pending.token not in repr(everything)
    assert accepted.token not in repr(everything)

    only_pending = await world.members.invitations(owner, status=InvitationStatus.PENDING)
    assert [i.id for i in only_pending.data] == [pending.invitation.id]

    world.clock.advance(days=7)
    assert not (await world.members.invitations(owner, status=InvitationStatus.PENDING)).data
    expired = await world.members.invitations(owner, status=InvitationStatus.EXPIRED)
    assert [i.id for i in expired.data] == [pending.invitation.id]


async def test_the_list_pages_and_stays_in_its_account(world: World) -> None:
    owner = world.as_member(world.owner.user.id, Role.OWNER)
    issued = [await world.members.invite(owner, f"p{n}@example.com", Role.STAFF) for n in range(3)]
    first = await world.members.invitations(owner, limit=2)
    assert first.has_more and [i.id for i in first.data] == [
        issued[2].invitation.id,
        issued[1].invitation.id,
    ]
    rest = await world.members.invitations(owner, limit=2, starting_after=first.data[-1].id)
    assert not rest.has_more and [i.id for i in rest.data] == [issued[0].invitation.id]

    other = await world.user("other@example.com")
    stranger = world.as_member(other.user.id, Role.OWNER, other.merchant.id)
    assert not (await world.members.invitations(stranger)).data
    with pytest.raises(InvalidArgument):  # another account's id is no cursor here
        await world.members.invitations(stranger, starting_after=issued[0].invitation.id)
    with pytest.raises(NotFound):
        await world.members.revoke_invitation(stranger, issued[0].invitation.id)
    with pytest.raises(InvalidArgument):
        await world.members.invitations(owner, limit=101)


async def test_a_revoked_invitations_link_is_refused_and_the_revocation_audited(
    world: World,
) -> None:
    owner = world.as_member(world.owner.user.id, Role.OWNER)
    eve = await world.user("eve@example.com")
    issued = await world.members.invite(owner, "eve@example.com", Role.STAFF)

    revoked = await world.members.revoke_invitation(owner, issued.invitation.id)
    assert world.members.status(revoked) is InvitationStatus.REVOKED
    again = await world.members.revoke_invitation(owner, issued.invitation.id)
    assert again.revoked_at == revoked.revoked_at  # idempotent: answered unchanged
    with pytest.raises(NotFound):
        await world.members.accept(world.as_member(eve.user.id, None, ""), issued.token)
    with pytest.raises(FailedPrecondition) as not_pending:
        await world.members.resend_invitation(owner, issued.invitation.id)
    assert not_pending.value.reason == "INVITATION_NOT_PENDING"

    async with world.uow() as uow:
        log = await uow.audit.search(
            AuditQuery(merchant_id=world.owner.merchant.id, action=Action.MEMBER_INVITE_REVOKE),
            limit=10,
        )
    assert [(e.event.target, e.event.actor) for e in log] == [
        (issued.invitation.id, world.owner.user.id)
    ]


async def test_an_accepted_invitation_cannot_be_revoked(world: World) -> None:
    owner = world.as_member(world.owner.user.id, Role.OWNER)
    dev = await world.user("dev@example.com")
    issued = await world.members.invite(owner, "dev@example.com", Role.DEVELOPER)
    await world.members.accept(world.as_member(dev.user.id, None, ""), issued.token)
    with pytest.raises(FailedPrecondition) as refused:
        await world.members.revoke_invitation(owner, issued.invitation.id)
    assert refused.value.reason == "INVITATION_NOT_PENDING"
    with pytest.raises(NotFound):
        await world.members.revoke_invitation(owner, "inv_unknown")


async def test_resending_issues_a_new_link_and_kills_the_old_one(world: World) -> None:
    owner = world.as_member(world.owner.user.id, Role.OWNER)
    eve = await world.user("eve@example.com")
    issued = await world.members.invite(owner, "eve@example.com", Role.STAFF)
    world.clock.advance(days=8)  # expired: re-sending re-opens it for 7 more days

    resent = await world.members.resend_invitation(owner, issued.invitation.id)
    assert resent.token != issued.token and resent.token.startswith("invtok_")
    assert resent.invitation.expires_at > world.clock.now()
    assert world.members.status(resent.invitation) is InvitationStatus.PENDING
    eve_principal = world.as_member(eve.user.id, None, "")
    with pytest.raises(NotFound):
        await world.members.accept(eve_principal, issued.token)
    joined = await world.members.accept(eve_principal, resent.token)
    assert joined.role is Role.STAFF


async def test_nobody_revokes_or_resends_an_invitation_above_their_role(world: World) -> None:
    owner = world.as_member(world.owner.user.id, Role.OWNER)
    admin = await world.join("admin@example.com", Role.ADMIN)
    for_owner = await world.members.invite(owner, "co-owner@example.com", Role.OWNER)
    for action in (world.members.revoke_invitation, world.members.resend_invitation):
        with pytest.raises(PermissionDenied) as refused:
            await action(admin, for_owner.invitation.id)
        assert refused.value.reason == "ROLE_NOT_GRANTABLE"
