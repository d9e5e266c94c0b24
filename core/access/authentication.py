"""Dashboard users: signup, login with lockout, refresh-token rotation, logout, and the
authentication of an access token for one merchant account.

Login never tells an unknown email from a wrong password or a locked account: the three
answer the same error, and an unknown email still costs one password verification (of a
dummy hash) so that the response time does not tell them apart either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from core.access.audit import ANONYMOUS, Action, AuditEvent, Outcome
from core.access.members import Membership
from core.access.model import Merchant, Principal
from core.access.passwords import check_password
from core.access.ports import AccessTokenCodec, InvalidAccessToken, PasswordHasher
from core.access.roles import Role
from core.access.sessions import (
    ACCESS_TOKEN_TTL,
    REFRESH_TOKEN_PREFIX,
    REFRESH_TOKEN_TTL,
    SESSION_MAX_AGE,
    AccessClaims,
    AuthSession,
    RefreshToken,
    RevokeReason,
    hash_token,
)
from core.access.users import User, is_valid_email, normalize_email
from core.shared.errors import (
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
    Violations,
)
from core.shared.ids import has_prefix
from core.shared.ports import Clock, IdGenerator
from core.shared.secret import Secret
from core.unit_of_work import UnitOfWork, UnitOfWorkFactory

_BAD_LOGIN = (
    "Invalid email or password. After 5 failed attempts an account is locked for 30 minutes."
)
_BAD_REFRESH = "Invalid refresh token."
_BAD_ACCESS = "Invalid or expired access token."
MAX_BUSINESS_NAME = 200
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class AccountAccess:
    merchant: Merchant
    role: Role


@dataclass(frozen=True)
class SessionTokens:
    """What login and refresh hand back. The tokens exist in clear only here."""

    access_token: Secret
    refresh_token: Secret
    expires_in: int  # seconds, of the access token
    refresh_expires_in: int
    user: User
    accounts: tuple[AccountAccess, ...]


@dataclass(frozen=True)
class SignedUp:
    user: User
    merchant: Merchant


class Auth:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: IdGenerator,
        clock: Clock,
        hasher: PasswordHasher,
        tokens: AccessTokenCodec,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._hasher = hasher
        self._tokens = tokens
        self._dummy_hash: str | None = None

    # --- signup ---------------------------------------------------------------------

    async def signup(
        self, email: str, password: Secret, business_name: str, *, origin: str = ""
    ) -> SignedUp:
        violations = Violations()
        email = normalize_email(email)
        if not email:
            violations.missing("email")
        elif not is_valid_email(email):
            violations.add("email", "is not an email address")
        check_password(password.reveal(), email=email, violations=violations)
        business_name = business_name.strip()
        if not business_name:
            violations.missing("business_name")
        elif len(business_name) > MAX_BUSINESS_NAME:
            violations.add("business_name", f"may be at most {MAX_BUSINESS_NAME} characters")
        violations.raise_if_any()

        # Hashing is slow by design: done before the transaction holds a connection.
        password_hash = await self._hasher.hash(password.reveal())
        now = self._clock.now()
        user = User(id=self._ids.new("usr"), email=email, password_hash=password_hash, created=now)
        merchant = Merchant(id=self._ids.new("acct"), name=business_name, created=now)
        async with self._uow() as uow:
            # The unique index settles a race; this check gives the usual case its message.
            if await uow.users.by_email(email) is not None:
                raise _email_taken()
            await uow.merchants.add(merchant)
            try:
                await uow.users.add(user)
            except AlreadyExists:
                raise _email_taken() from None
            await uow.memberships.add(Membership(merchant.id, user.id, Role.OWNER, now))
            await uow.audit.append(
                AuditEvent(now, Action.SIGNUP, Outcome.SUCCESS, user.id, origin, merchant.id,
                           target=user.id)
            )  # fmt: skip
            await uow.commit()
        return SignedUp(user, merchant)

    # --- login ----------------------------------------------------------------------

    async def login(self, email: str, password: Secret, *, origin: str = "") -> SessionTokens:
        violations = Violations()
        email = normalize_email(email)
        if not email:
            violations.missing("email")
        if not password.reveal():
            violations.missing("password")
        violations.raise_if_any()
        if len(email) > 320 or len(password.reveal()) > 1024:
            raise Unauthenticated(_BAD_LOGIN, reason="INVALID_CREDENTIALS")

        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.by_email(email, for_update=True)
            if user is None:
                await self._hasher.verify(await self._dummy(), password.reveal())
                await self._login_failed(uow, now, ANONYMOUS, email, origin, "unknown_email")
            # Verified even while locked: a locked account must answer as slowly as any.
            correct = await self._hasher.verify(user.password_hash, password.reveal())
            if user.is_locked(now):
                await self._login_failed(uow, now, user.id, email, origin, "locked", Outcome.DENIED)
            if not correct:
                locked = user.record_failure(now)
                await uow.users.update_login_state(user)
                if locked and user.locked_until is not None:
                    until = user.locked_until.isoformat()
                    await uow.audit.append(
                        AuditEvent(now, Action.LOCKOUT, Outcome.DENIED, user.id, origin,
                                   target=email, details={"until": until})
                    )  # fmt: skip
                await self._login_failed(uow, now, user.id, email, origin, "wrong_password")
            user.record_success(now)
            await uow.users.update_login_state(user)
            session = AuthSession(
                id=self._ids.new("ses"),
                user_id=user.id,
                created=now,
                expires_at=now + SESSION_MAX_AGE,
            )
            await uow.sessions.add(session)
            refresh = await self._new_refresh_token(uow, session, now)
            await uow.audit.append(
                AuditEvent(now, Action.LOGIN, Outcome.SUCCESS, user.id, origin, target=email,
                           details={"session": session.id})
            )  # fmt: skip
            accounts = await _accounts_of(uow, user.id)
            await uow.commit()
        return self._tokens_for(user, session, refresh, now, accounts)

    async def _login_failed(
        self,
        uow: UnitOfWork,
        now: datetime,
        actor: str,
        email: str,
        origin: str,
        why: str,
        outcome: Outcome = Outcome.FAILURE,
    ) -> NoReturn:
        """Records the failure, commits it, and raises the one answer every failure gets."""
        await uow.audit.append(
            AuditEvent(now, Action.LOGIN, outcome, actor, origin, target=email,
                       details={"reason": why})
        )  # fmt: skip
        await uow.commit()
        raise Unauthenticated(_BAD_LOGIN, reason="INVALID_CREDENTIALS")

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hasher.hash(self._ids.secret(24))
        return self._dummy_hash

    # --- refresh and logout ---------------------------------------------------------

    async def refresh(self, refresh_token: Secret, *, origin: str = "") -> SessionTokens:
        token_hash = _refresh_hash(refresh_token)
        now = self._clock.now()
        async with self._uow() as uow:
            token = await uow.sessions.refresh_token_by_hash(token_hash)
            if token is None:
                raise Unauthenticated(_BAD_REFRESH, reason="INVALID_REFRESH_TOKEN")
            session = await uow.sessions.get(token.session_id)
            if session is None or not session.is_active(now) or now >= token.expires_at:
                raise Unauthenticated(_BAD_REFRESH, reason="INVALID_REFRESH_TOKEN")
            # A spent token again, or a race lost to another refresh with the same token:
            # two holders of one family. End the family: the thief's and the owner's tokens.
            if token.used_at is not None or not await uow.sessions.use_refresh_token(token.id, now):
                await uow.sessions.revoke(session.id, now, RevokeReason.REUSE)
                await uow.audit.append(
                    AuditEvent(now, Action.REFRESH_TOKEN_REUSE, Outcome.DENIED, session.user_id,
                               origin, target=session.id)
                )  # fmt: skip
                await uow.commit()
                raise Unauthenticated(_BAD_REFRESH, reason="INVALID_REFRESH_TOKEN")
            user = await uow.users.get(session.user_id)
            if user is None:
                raise Unauthenticated(_BAD_REFRESH, reason="INVALID_REFRESH_TOKEN")
            refresh = await self._new_refresh_token(uow, session, now)
            await uow.audit.append(
                AuditEvent(now, Action.REFRESH, Outcome.SUCCESS, user.id, origin,
                           target=session.id)
            )  # fmt: skip
            accounts = await _accounts_of(uow, user.id)
            await uow.commit()
        return self._tokens_for(user, session, refresh, now, accounts)

    async def logout(self, refresh_token: Secret, *, origin: str = "") -> None:
        """Ends the token's session; answers the same whether or not there was one."""
        try:
            token_hash = _refresh_hash(refresh_token)
        except Unauthenticated:
            return
        now = self._clock.now()
        async with self._uow() as uow:
            token = await uow.sessions.refresh_token_by_hash(token_hash)
            session = await uow.sessions.get(token.session_id) if token else None
            if session is None or session.revoked_at is not None:
                return
            await uow.sessions.revoke(session.id, now, RevokeReason.LOGOUT)
            await uow.audit.append(
                AuditEvent(now, Action.LOGOUT, Outcome.SUCCESS, session.user_id, origin,
                           target=session.id)
            )  # fmt: skip
            await uow.commit()

    async def _new_refresh_token(
        self, uow: UnitOfWork, session: AuthSession, now: datetime
    ) -> Secret:
        plaintext = REFRESH_TOKEN_PREFIX + self._ids.secret(32)
        await uow.sessions.add_refresh_token(
            RefreshToken(
                id=self._ids.new("rt"),
                session_id=session.id,
                token_hash=hash_token(plaintext),
                issued_at=now,
                # Never past the session's own end.
                expires_at=min(now + REFRESH_TOKEN_TTL, session.expires_at),
            )
        )
        return Secret(plaintext)

    def _tokens_for(
        self,
        user: User,
        session: AuthSession,
        refresh: Secret,
        now: datetime,
        accounts: tuple[AccountAccess, ...],
    ) -> SessionTokens:
        expires_at = min(now + ACCESS_TOKEN_TTL, session.expires_at)
        claims = AccessClaims(
            user_id=user.id,
            session_id=session.id,
            issued_at=now,
            expires_at=expires_at,
            token_id=self._ids.secret(12),
        )
        refresh_end = min(now + REFRESH_TOKEN_TTL, session.expires_at)
        return SessionTokens(
            access_token=Secret(self._tokens.issue(claims)),
            refresh_token=refresh,
            expires_in=int((expires_at - now).total_seconds()),
            refresh_expires_in=int((refresh_end - now).total_seconds()),
            user=user,
            accounts=accounts,
        )

    # --- authenticating a request ---------------------------------------------------

    async def authenticate(
        self, access_token: str, account_id: str, *, require_account: bool = True
    ) -> Principal:
        """The principal of a user's access token acting in account `account_id`.

        The token must verify and its session must still be live (logout and refresh-token
        reuse end it before the token expires). The role is read from the membership on
        every request, so a role change or a removal applies at once.
        """
        if len(access_token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated(_BAD_ACCESS, reason="INVALID_ACCESS_TOKEN")
        try:
            claims = self._tokens.verify(access_token)
        except InvalidAccessToken:
            raise Unauthenticated(_BAD_ACCESS, reason="INVALID_ACCESS_TOKEN") from None
        if not account_id and require_account:
            raise InvalidArgument.field(
                "paygate-account",
                "is required with a user session: the acct_... id to act in",
                reason="ACCOUNT_REQUIRED",
            )
        now = self._clock.now()
        async with self._uow() as uow:
            session = await uow.sessions.get(claims.session_id)
            if session is None or not session.is_active(now) or session.user_id != claims.user_id:
                raise Unauthenticated(_BAD_ACCESS, reason="INVALID_ACCESS_TOKEN")
            membership = None
            if account_id:
                if has_prefix(account_id, "acct"):
                    membership = await uow.memberships.get(account_id, claims.user_id)
                if membership is None:
                    # The same answer whether the account exists or not.
                    raise PermissionDenied(
                        "You are not a member of this account.", reason="NOT_A_MEMBER"
                    )
        return Principal(
            merchant_id=account_id,
            livemode=False,  # test mode unless the call asks for live (core/access/gate.py)
            actor=claims.user_id,
            role=membership.role if membership else None,
            user_id=claims.user_id,
        )


def _refresh_hash(token: Secret) -> bytes:
    plaintext = token.reveal()
    if not plaintext:
        raise InvalidArgument([FieldViolation("refresh_token", "is required", missing=True)])
    if not plaintext.startswith(REFRESH_TOKEN_PREFIX) or len(plaintext) > 200:
        raise Unauthenticated(_BAD_REFRESH, reason="INVALID_REFRESH_TOKEN")
    return hash_token(plaintext)


def _email_taken() -> AlreadyExists:
    # Signup must say so: the alternative (a confirmation email to the owner of the
    # address) needs mail delivery, which paygate does not have yet. docs/access.md.
    return AlreadyExists(
        "An account with this email exists: log in instead.",
        reason="EMAIL_TAKEN",
        metadata={"param": "email"},
    )


async def _accounts_of(uow: UnitOfWork, user_id: str) -> tuple[AccountAccess, ...]:
    accounts = []
    for membership in await uow.memberships.for_user(user_id):
        merchant = await uow.merchants.get(membership.merchant_id)
        if merchant is not None:
            accounts.append(AccountAccess(merchant, membership.role))
    return tuple(accounts)
