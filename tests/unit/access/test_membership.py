"""Invitations, roles and removal; the rules that nobody grants above their own role and
that an account keeps an owner."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.access.audit import Action
from core.access.authentication import Auth, SignedUp
from core.access.membership import Members
from core.access.model import Principal
from core.access.roles import Role
from core.shared.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from core.shared.secret import Secret
from tests.fakes import FixedClock, SequentialIds, cheap_hasher, token_codec
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory


@dataclass
class World:
    auth: Auth
    members: Members
    uow: MemoryUnitOfWorkFactory
    clock: FixedClock
    owner: SignedUp

    async def user(self, email: str) -> SignedUp:
        return await self.auth.signup(email, Secret("a long enough secret"), f"{email} shop")

    def as_member(self, user_id: str, role: Role | None, merchant_id: str = "") -> Principal:
        merchant = self.owner.merchant.id if merchant_id == "" else merchant_id
        return Principal(merchant, False, user_id, role, user_id=user_id)

    async def join(self, email: str, role: Role) -> Principal:
        """A user of the owner's account with `role`, through an invitation."""
        user = await self.user(email)
        issued = await self.members.invite(
            self.as_member(self.owner.user.id, Role.OWNER), email, role
        )
        await self.members.accept(
            self.as_member(user.user.id, None, user.merchant.id), issued.token
        )
        return self.as_member(user.user.id, role)


@pytest.fixture
async def world() -> World:
    clock, uow = FixedClock(), MemoryUnitOfWorkFactory()
    ids = SequentialIds(clock)
    auth = Auth(uow, ids, clock, cheap_hasher(), token_codec(clock))
    owner = await auth.signup("owner@example.com", Secret("a long enough secret"), "Owner Ltd")
    return World(auth, Members(uow, ids, clock), uow, clock, owner)


async def test_an_invitation_lets_its_email_join_with_its_role(world: World) -> None:
    owner = world.as_member(world.owner.user.id, Role.OWNER)
    dev = await world.user("dev@example.com")
    issued = await world.members.invite(owner, "Dev@Example.com", Role.DEVELOPER)
    assert issued.token.startswith("invtok_") and issued.token not in repr(issued)
    assert issued.invitation.expires_at == world.clock.now() + __import__("datetime").timedelta(
        days=7
    )

    joined = await world.members.accept(world.as_member(dev.user.id, None, ""), issued.token)
    assert (joined.user_id, joined.email, joined.role) == (
        dev.user.id,
        "dev@example.com",
        Role.DEVELOPER,
    )
    page = await world.members.list(owner)
    assert {(m.email, m.role) for m in page.data} == {
        ("owner@example.com", Role.OWNER), ("dev@example.com", Role.DEVELOPER),
    }  # fmt: skip
    actions = [e.action for e in world.uow.store.tables.audit_events]
    assert actions[-2:] == [Action.MEMBER_INVITE, Action.MEMBER_JOIN]
    assert world.uow.store.tables.audit_events[-1].merchant_id == world.owner.merchant.id

    with pytest.raises(NotFound):  # used already
        await world.members.accept(world.as_member(dev.user.id, None, ""), issued.token)


async def test_invitations_are_for_their_email_and_expire(world: World) -> None:
    owner = world.as_member(world.owner.user.id, Role.OWNER)
    eve = await world.user("eve@example.com")
    issued = await world.members.invite(owner, "someone@example.com", Role.STAFF)
    eve_principal = world.as_member(eve.user.id, None, "")
    for token in (issued.token, "invtok_unknown", "garbage"):
        with pytest.raises(NotFound):
            await world.members.accept(eve_principal, token)

    for_eve = await world.members.invite(owner, "eve@example.com", Role.STAFF)
    world.clock.advance(days=7)
    with pytest.raises(NotFound):
        await world.members.accept(eve_principal, for_eve.token)


async def test_a_member_cannot_join_twice(world: World) -> None:
    owner = world.as_member(world.owner.user.id, Role.OWNER)
    staff = await world.join("staff@example.com", Role.STAFF)
    again = await world.members.invite(owner, "staff@example.com", Role.ADMIN)
    with pytest.raises(AlreadyExists):
        await world.members.accept(staff, again.token)


@pytest.mark.parametrize(
    ("granter", "role", "allowed"),
    [
        (Role.OWNER, Role.OWNER, True),
        (Role.ADMIN, Role.ADMIN, True),
        (Role.ADMIN, Role.OWNER, False),
        (Role.ADMIN, Role.DEVELOPER, True),
        (Role.DEVELOPER, Role.MANAGER, False),  # payouts:write is not the developer's
    ],
)
async def test_nobody_invites_above_their_own_role(
    world: World, granter: Role, role: Role, allowed: bool
) -> None:
    caller = world.as_member("usr_caller", granter)
    if allowed:
        await world.members.invite(caller, "new@example.com", role)
    else:
        with pytest.raises(PermissionDenied) as raised:
            await world.members.invite(caller, "new@example.com", role)
        assert raised.value.reason == "ROLE_NOT_GRANTABLE"


@pytest.mark.parametrize(
    ("email", "role", "field"),
    [("", Role.STAFF, "email"), ("x", Role.STAFF, "email"), ("a@b.co", None, "role")],
)
async def test_invite_names_the_bad_field(
    world: World, email: str, role: Role | None, field: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await world.members.invite(world.as_member(world.owner.user.id, Role.OWNER), email, role)
    assert raised.value.metadata["param"] == field


async def test_role_changes_respect_rank_and_are_audited(world: World) -> None:
    owner = world.as_member(world.owner.user.id, Role.OWNER)
    admin = await world.join("admin@example.com", Role.ADMIN)
    dev = await world.join("dev@example.com", Role.DEVELOPER)

    changed = await world.members.update_role(admin, dev.user_id, Role.MANAGER)
    assert changed.role is Role.MANAGER
    event = world.uow.store.tables.audit_events[-1]
    assert (event.action, event.actor, event.target) == (
        Action.MEMBER_ROLE_CHANGE, admin.user_id, dev.user_id,
    )  # fmt: skip
    assert dict(event.details) == {"from": "DEVELOPER", "to": "MANAGER"}
    with pytest.raises(PermissionDenied):  # an admin cannot touch an owner
        await world.members.update_role(admin, owner.user_id, Role.STAFF)
    with pytest.raises(PermissionDenied):  # nor make one
        await world.members.update_role(admin, dev.user_id, Role.OWNER)
    with pytest.raises(NotFound):
        await world.members.update_role(admin, "usr_nobody", Role.STAFF)


async def test_the_last_owner_cannot_leave_or_be_demoted(world: World) -> None:
    owner = world.as_member(world.owner.user.id, Role.OWNER)
    with pytest.raises(FailedPrecondition) as raised:
        await world.members.remove(owner, owner.user_id)
    assert raised.value.reason == "LAST_OWNER"
    with pytest.raises(FailedPrecondition):
        await world.members.update_role(owner, owner.user_id, Role.ADMIN)

    second = await world.join("second@example.com", Role.OWNER)
    await world.members.remove(second, owner.user_id)  # now there is another owner
    with pytest.raises(FailedPrecondition):
        await world.members.remove(second, second.user_id)
    assert [m.email for m in (await world.members.list(second)).data] == ["second@example.com"]


async def test_another_accounts_member_is_not_found(world: World) -> None:
    other = await world.user("other@example.com")
    owner = world.as_member(world.owner.user.id, Role.OWNER)
    for call in (
        world.members.update_role(owner, other.user.id, Role.STAFF),
        world.members.remove(owner, other.user.id),
    ):
        with pytest.raises(NotFound):
            await call
