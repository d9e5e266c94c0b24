"""Access guarantees only PostgreSQL can show: races under row locks, append-only audit,
constraints that keep plaintext out."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.audit import Action, AuditEvent, Outcome
from core.access.authentication import Auth, SignedUp
from core.access.membership import Members
from core.access.model import Principal
from core.access.roles import Role
from core.access.sessions import AuthSession, RefreshToken
from core.shared.errors import FailedPrecondition, Unauthenticated
from core.shared.secret import Secret
from tests.contract.helpers import T0, later
from tests.contract.test_access_users_contract import add_user, new_user, sha
from tests.fakes import cheap_hasher, token_codec

PASSWORD = "a long enough secret"


@pytest.fixture
def auth(uow_factory: SqlUnitOfWorkFactory, ids: RandomIds) -> Auth:
    clock = SystemClock()
    return Auth(uow_factory, ids, clock, cheap_hasher(), token_codec(clock))


async def signup(auth: Auth, ids: RandomIds) -> SignedUp:
    return await auth.signup(f"{ids.new('usr')}@example.com", Secret(PASSWORD), "Race Ltd")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET outcome = 'SUCCESS' WHERE actor = :actor",
        "DELETE FROM audit_events WHERE actor = :actor",
        "TRUNCATE audit_events",
    ],
    ids=["update", "delete", "truncate"],
)
async def test_the_audit_log_refuses_changes(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, statement: str
) -> None:
    actor = ids.new("usr")
    async with uow_factory() as uow:
        await uow.audit.append(AuditEvent(T0, Action.LOGIN, Outcome.FAILURE, actor, "10.0.0.9"))
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(DBAPIError, match="audit_events is append-only"):
            await uow.connection.execute(text(statement), {"actor": actor})
    async with uow_factory() as uow:
        assert len(await uow.audit.recent(actor=actor)) == 1


async def test_a_plaintext_password_does_not_fit_the_users_table(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds
) -> None:
    user = new_user(ids)
    user.password_hash = PASSWORD
    async with uow_factory() as uow:
        with pytest.raises(IntegrityError, match="ck_users_password_hash_argon2id"):
            await uow.users.add(user)


async def test_concurrent_wrong_passwords_are_counted_one_by_one(
    auth: Auth, uow_factory: SqlUnitOfWorkFactory, ids: RandomIds
) -> None:
    # Without the row lock, eight parallel guesses would all see "0 failures so far" and
    # all be checked; with it they queue, and the sixth on finds the account locked.
    user = await signup(auth, ids)

    async def guess() -> None:
        with pytest.raises(Unauthenticated):
            await auth.login(user.user.email, Secret("wrong guess number x"))

    await asyncio.gather(*(guess() for _ in range(8)))
    async with uow_factory() as uow:
        events = await uow.audit.recent(target=user.user.email)
        stored = await uow.users.get(user.user.id)
    reasons = sorted(e.details.get("reason", e.action.value) for e in events)
    assert reasons == ["auth.lockout"] + ["locked"] * 3 + ["wrong_password"] * 5
    assert stored is not None and stored.locked_until is not None


async def test_one_refresh_token_spent_twice_at_once_ends_the_session(
    auth: Auth, ids: RandomIds
) -> None:
    user = await signup(auth, ids)
    tokens = await auth.login(user.user.email, Secret(PASSWORD))
    results = await asyncio.gather(
        *(auth.refresh(tokens.refresh_token) for _ in range(2)), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert isinstance(next(r for r in results if r not in winners), Unauthenticated)
    # The loser saw reuse: the whole family is revoked, the winner's new token too.
    with pytest.raises(Unauthenticated):
        await auth.refresh(winners[0].refresh_token)


async def test_two_owners_removing_each_other_leave_one(
    auth: Auth, uow_factory: SqlUnitOfWorkFactory, ids: RandomIds
) -> None:
    first = await signup(auth, ids)
    second = await signup(auth, ids)
    members = Members(uow_factory, ids, SystemClock())
    account = first.merchant.id
    owner = Principal(account, False, first.user.id, Role.OWNER, user_id=first.user.id)
    invite = await members.invite(owner, second.user.email, Role.OWNER)
    await members.accept(
        Principal("", False, second.user.id, None, user_id=second.user.id), invite.token
    )

    def as_owner(user: SignedUp) -> Principal:
        return Principal(account, False, user.user.id, Role.OWNER, user_id=user.user.id)

    results = await asyncio.gather(
        members.remove(as_owner(first), second.user.id),
        members.remove(as_owner(second), first.user.id),
        return_exceptions=True,
    )
    assert sum(isinstance(r, FailedPrecondition) for r in results) == 1
    async with uow_factory() as uow:
        assert len(await uow.memberships.owners(account)) == 1


async def test_token_hashes_are_unique_and_sha256_sized(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds
) -> None:
    user = await add_user(uow_factory, ids)
    session = AuthSession(ids.new("ses"), user.id, T0, later(60))
    async with uow_factory() as uow:
        await uow.sessions.add(session)
        with pytest.raises(IntegrityError, match="ck_refresh_tokens_token_hash_sha256"):
            await uow.sessions.add_refresh_token(
                RefreshToken(ids.new("rt"), session.id, b"rt_plaintext", T0, later(60))
            )
    async with uow_factory() as uow:
        await uow.sessions.add(session)
        token = RefreshToken(ids.new("rt"), session.id, sha("x"), T0, later(60))
        await uow.sessions.add_refresh_token(token)
        with pytest.raises(Exception, match="already exists"):
            await uow.sessions.add_refresh_token(
                RefreshToken(ids.new("rt"), session.id, sha("x"), T0, later(60))
            )
