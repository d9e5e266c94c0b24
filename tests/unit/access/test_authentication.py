"""Signup, login and lockout, refresh-token rotation and reuse, logout, and the
authentication of access tokens: core use-cases over the in-memory unit of work."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.access.audit import Action, Outcome
from core.access.authentication import Auth, SessionTokens, SignedUp
from core.access.roles import Role
from core.access.sessions import RevokeReason
from core.shared.errors import AlreadyExists, InvalidArgument, PermissionDenied, Unauthenticated
from core.shared.secret import Secret
from tests.fakes import FixedClock, SequentialIds, cheap_hasher, token_codec
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory

PASSWORD = "correct horse battery staple"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def uow() -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory()


@pytest.fixture
def auth(uow: MemoryUnitOfWorkFactory, clock: FixedClock) -> Auth:
    return Auth(uow, SequentialIds(clock), clock, cheap_hasher(), token_codec(clock))


@pytest.fixture
async def ann(auth: Auth) -> SignedUp:
    return await auth.signup(
        " Ann@Example.com ", Secret(PASSWORD), "Ann's Bakery", origin="1.2.3.4"
    )


async def login(
    auth: Auth, password: str = PASSWORD, email: str = "ann@example.com"
) -> SessionTokens:
    return await auth.login(email, Secret(password), origin="1.2.3.4")


async def refused_login(
    auth: Auth, password: str, email: str = "ann@example.com"
) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as raised:
        await login(auth, password, email)
    return raised.value


# --- signup -----------------------------------------------------------------------------


async def test_signup_makes_the_user_owner_of_a_new_account(
    ann: SignedUp, uow: MemoryUnitOfWorkFactory
) -> None:
    tables = uow.store.tables
    assert ann.user.email == "ann@example.com"
    assert ann.merchant.name == "Ann's Bakery"
    assert tables.memberships[(ann.merchant.id, ann.user.id)].role is Role.OWNER
    stored = tables.users[ann.user.id]
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    (event,) = tables.audit_events
    assert (event.action, event.actor, event.merchant_id, event.origin) == (
        Action.SIGNUP, ann.user.id, ann.merchant.id, "1.2.3.4",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("email", "password", "name", "field"),
    [
        ("", PASSWORD, "Shop", "email"),
        ("not-an-email", PASSWORD, "Shop", "email"),
        ("bo@example.com", "short", "Shop", "password"),
        ("bo@example.com", "", "Shop", "password"),
        ("bo@example.com", "qwerty123456", "Shop", "password"),  # on the common list
        ("bo@example.com", "Password1234", "Shop", "password"),  # case does not help
        ("bob.smith@example.com", "bob.smith-is-my-password", "Shop", "password"),
        ("bo@example.com", "x" * 257, "Shop", "password"),
        ("bo@example.com", PASSWORD, "  ", "business_name"),
    ],
)
async def test_signup_refuses_bad_input_naming_the_field_and_writes_nothing(
    auth: Auth, uow: MemoryUnitOfWorkFactory, email: str, password: str, name: str, field: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await auth.signup(email, Secret(password), name)
    assert raised.value.metadata["param"] == field
    if password:
        assert password not in raised.value.message
    assert uow.store.tables.users == {}


async def test_signup_with_a_taken_email_is_already_exists(auth: Auth, ann: SignedUp) -> None:
    with pytest.raises(AlreadyExists) as raised:
        await auth.signup("ANN@example.com", Secret("another long passphrase"), "Second")
    assert (raised.value.reason, raised.value.metadata["param"]) == ("EMAIL_TAKEN", "email")


# --- login and lockout ------------------------------------------------------------------


async def test_login_returns_tokens_and_the_accounts(auth: Auth, ann: SignedUp) -> None:
    tokens = await login(auth)
    assert tokens.access_token.reveal().count(".") == 2  # a JWT
    assert tokens.refresh_token.reveal().startswith("rt_")
    assert (tokens.expires_in, tokens.refresh_expires_in) == (24 * 3600, 7 * 24 * 3600)
    assert [(a.merchant.id, a.role) for a in tokens.accounts] == [(ann.merchant.id, Role.OWNER)]
    assert "rt_" not in repr(tokens)  # tokens hide in Secret


async def test_wrong_password_unknown_email_and_lock_all_look_the_same(
    auth: Auth, ann: SignedUp, uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    wrong = await refused_login(auth, "not the password at all")
    unknown = await refused_login(auth, PASSWORD, email="nobody@example.com")
    for _ in range(4):
        await refused_login(auth, "not the password at all")
    locked = await refused_login(auth, PASSWORD)  # the right password, but locked
    assert wrong.reason == unknown.reason == locked.reason == "INVALID_CREDENTIALS"
    assert wrong.message == unknown.message == locked.message

    outcomes = [
        (e.action, e.outcome, e.details.get("reason")) for e in uow.store.tables.audit_events
    ]
    assert outcomes[1:] == [
        (Action.LOGIN, Outcome.FAILURE, "wrong_password"),
        (Action.LOGIN, Outcome.FAILURE, "unknown_email"),
        *[(Action.LOGIN, Outcome.FAILURE, "wrong_password")] * 3,
        (Action.LOCKOUT, Outcome.DENIED, None),
        (Action.LOGIN, Outcome.FAILURE, "wrong_password"),
        (Action.LOGIN, Outcome.DENIED, "locked"),
    ]


async def test_five_failures_lock_for_thirty_minutes(
    auth: Auth, ann: SignedUp, uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    for _ in range(4):
        await refused_login(auth, "not the password at all")
    await login(auth)  # a success resets the count
    for _ in range(5):
        await refused_login(auth, "not the password at all")
    user = uow.store.tables.users[ann.user.id]
    assert user.locked_until == clock.now() + timedelta(minutes=30)

    clock.advance(minutes=29, seconds=59)
    await refused_login(auth, PASSWORD)
    clock.advance(seconds=1)
    await login(auth)
    assert uow.store.tables.users[ann.user.id].failed_logins == 0


async def test_login_names_missing_fields(auth: Auth) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await auth.login("", Secret(""))
    assert [v.field for v in raised.value.violations] == ["email", "password"]


# --- refresh, reuse, logout -------------------------------------------------------------


async def test_refresh_rotates_and_reuse_revokes_the_family(
    auth: Auth, ann: SignedUp, uow: MemoryUnitOfWorkFactory
) -> None:
    first = await login(auth)
    second = await auth.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    await auth.authenticate(second.access_token.reveal(), ann.merchant.id)

    with pytest.raises(Unauthenticated) as raised:  # the spent token again: a thief?
        await auth.refresh(first.refresh_token)
    assert raised.value.reason == "INVALID_REFRESH_TOKEN"

    # The whole family is gone: the newest refresh token and every access token.
    with pytest.raises(Unauthenticated):
        await auth.refresh(second.refresh_token)
    for tokens in (first, second):
        with pytest.raises(Unauthenticated):
            await auth.authenticate(tokens.access_token.reveal(), ann.merchant.id)
    (session,) = uow.store.tables.sessions.values()
    assert session.revoke_reason == RevokeReason.REUSE
    assert uow.store.tables.audit_events[-1].action is Action.REFRESH_TOKEN_REUSE


async def test_refresh_tokens_expire_after_seven_days(
    auth: Auth, ann: SignedUp, clock: FixedClock
) -> None:
    tokens = await login(auth)
    clock.advance(days=7)
    with pytest.raises(Unauthenticated):
        await auth.refresh(tokens.refresh_token)


async def test_sessions_end_thirty_days_after_login_however_often_refreshed(
    auth: Auth, ann: SignedUp, clock: FixedClock
) -> None:
    tokens = await login(auth)
    for _ in range(4):
        clock.advance(days=6)
        tokens = await auth.refresh(tokens.refresh_token)
    assert tokens.refresh_expires_in == 6 * 24 * 3600  # capped by the session's end
    clock.advance(days=6)
    with pytest.raises(Unauthenticated):
        await auth.refresh(tokens.refresh_token)


@pytest.mark.parametrize("token", ["rt_unknown", "sk_test_abc", "x" * 300])
async def test_unknown_refresh_tokens_are_refused(auth: Auth, token: str) -> None:
    with pytest.raises(Unauthenticated):
        await auth.refresh(Secret(token))


async def test_logout_ends_the_session_and_its_access_tokens(
    auth: Auth, ann: SignedUp, uow: MemoryUnitOfWorkFactory
) -> None:
    tokens = await login(auth)
    await auth.logout(tokens.refresh_token)
    await auth.logout(tokens.refresh_token)  # idempotent
    await auth.logout(Secret("rt_never_issued"))  # and says nothing about unknown ones
    with pytest.raises(Unauthenticated):
        await auth.authenticate(tokens.access_token.reveal(), ann.merchant.id)
    with pytest.raises(Unauthenticated):
        await auth.refresh(tokens.refresh_token)
    assert [e.action for e in uow.store.tables.audit_events].count(Action.LOGOUT) == 1


# --- authenticating access tokens -------------------------------------------------------


async def test_an_access_token_acts_as_the_member_of_the_named_account(
    auth: Auth, ann: SignedUp
) -> None:
    tokens = await login(auth)
    principal = await auth.authenticate(tokens.access_token.reveal(), ann.merchant.id)
    assert (principal.merchant_id, principal.user_id, principal.actor, principal.role) == (
        ann.merchant.id, ann.user.id, ann.user.id, Role.OWNER,
    )  # fmt: skip

    bob = await auth.signup("bob@example.com", Secret("bob's long passphrase"), "Bob Ltd")
    for account in (bob.merchant.id, "acct_nonexistent", "not-an-id"):
        with pytest.raises(PermissionDenied) as raised:
            await auth.authenticate(tokens.access_token.reveal(), account)
        assert raised.value.reason == "NOT_A_MEMBER"

    with pytest.raises(InvalidArgument) as missing:
        await auth.authenticate(tokens.access_token.reveal(), "")
    assert missing.value.metadata["param"] == "paygate-account"
    outside = await auth.authenticate(tokens.access_token.reveal(), "", require_account=False)
    assert (outside.merchant_id, outside.role) == ("", None)


async def test_access_tokens_expire_after_24_hours(
    auth: Auth, ann: SignedUp, clock: FixedClock
) -> None:
    tokens = await login(auth)
    clock.advance(hours=23, minutes=59)
    await auth.authenticate(tokens.access_token.reveal(), ann.merchant.id)
    clock.advance(minutes=2)
    with pytest.raises(Unauthenticated) as raised:
        await auth.authenticate(tokens.access_token.reveal(), ann.merchant.id)
    assert raised.value.reason == "INVALID_ACCESS_TOKEN"
