"""The one authorization point: every call of every public method passes `AccessGate.admit`.

Each RPC declares a Requirement in its proto ((paygate.v1.access)); the gRPC layer reads
it, collects the caller's credentials from the metadata and asks the gate. The gate
authenticates (API key or user session), authorizes (the role's permissions, the
publishable-key and user-only rules), and counts the call against the rate limits. What
it returns is the Principal every use-case scopes its reads and writes by.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.access.authentication import Auth
from core.access.model import Principal
from core.access.rate_limits import RateLimits
from core.access.roles import PERMISSIONS, PUBLISHABLE_PERMISSIONS
from core.access.use_cases import ApiKeys
from core.shared.errors import InvalidArgument, PermissionDenied, Unauthenticated


@dataclass(frozen=True)
class Requirement:
    """What a method demands of its caller (the proto's paygate.v1.Access)."""

    permission: str = ""
    publishable: bool = False
    unauthenticated: bool = False
    user_only: bool = False
    rate_limit_class: str = ""

    def problems(self, known_class: bool = True) -> list[str]:
        """Why this declaration is unusable; the server refuses to start with any."""
        found = []
        kinds = [bool(self.permission), self.unauthenticated, self.user_only]
        if sum(kinds) != 1:
            found.append("needs exactly one of permission, unauthenticated, user_only")
        if self.permission and self.permission not in PERMISSIONS:
            found.append(f"unknown permission {self.permission!r}")
        if self.publishable and self.permission not in PUBLISHABLE_PERMISSIONS:
            found.append(f"a publishable key may not be given {self.permission!r}")
        if not known_class:
            found.append(f"unknown rate_limit_class {self.rate_limit_class!r}")
        return found


@dataclass(frozen=True)
class Credentials:
    bearer: str  # the token after "Bearer ": an API key or an access token; "" if none
    account: str  # Paygate-Account: the acct_... a user session acts in
    origin: str  # the client's address
    mode: str = ""  # Paygate-Mode: "live" or "test" ("": test for a session, the key's own)

    def __repr__(self) -> str:
        return (
            f"Credentials(bearer='***', account={self.account!r}, origin={self.origin!r}, "
            f"mode={self.mode!r})"
        )


API_KEY_PREFIXES = ("sk_", "pk_")


class AccessGate:
    def __init__(self, api_keys: ApiKeys, auth: Auth, rate_limits: RateLimits) -> None:
        self._api_keys = api_keys
        self._auth = auth
        self.rate_limits = rate_limits

    def check(self, requirement: Requirement) -> list[str]:
        problems = requirement.problems(self.rate_limits.known_class(requirement.rate_limit_class))
        if requirement.unauthenticated and not self.rate_limits.per_origin(
            requirement.rate_limit_class
        ):
            problems.append("an unauthenticated method needs a per-address rate_limit_class")
        return problems

    async def admit(self, requirement: Requirement, credentials: Credentials) -> Principal | None:
        """The caller's principal (None for unauthenticated methods), or an error."""
        if requirement.unauthenticated:
            await self.rate_limits.check_origin(credentials.origin, requirement.rate_limit_class)
            return None
        principal = await self._authenticate(requirement, credentials)
        authorize(principal, requirement)
        route_class = requirement.rate_limit_class
        if principal.merchant_id and not self.rate_limits.per_origin(route_class):
            await self.rate_limits.check_merchant(principal.merchant_id, route_class)
        else:  # a user outside any account (accepting an invitation): by address
            await self.rate_limits.check_origin(credentials.origin, route_class or "auth")
        return principal

    async def _authenticate(self, requirement: Requirement, credentials: Credentials) -> Principal:
        token = credentials.bearer
        if not token:
            raise Unauthenticated(
                "No credential provided: send 'Authorization: Bearer sk_test_...' or a "
                "user's access token with 'Paygate-Account: acct_...'.",
                reason="MISSING_API_KEY",
            )
        livemode = _livemode(credentials.mode)
        if token.startswith(API_KEY_PREFIXES):
            principal = await self._api_keys.authenticate(token, credentials.origin)
            if credentials.account and credentials.account != principal.merchant_id:
                raise PermissionDenied(
                    "An API key acts only in its own account: drop Paygate-Account.",
                    reason="ACCOUNT_MISMATCH",
                )
            # A key's mode is part of the key (sk_live_ / sk_test_): a header cannot change it.
            if livemode is not None and livemode != principal.livemode:
                raise PermissionDenied(
                    "An API key acts only in its own mode: drop Paygate-Mode.",
                    reason="MODE_MISMATCH",
                )
            if principal.origin == credentials.origin:  # the key's principal carries it
                return principal
        else:
            principal = await self._auth.authenticate(
                token, credentials.account, require_account=not requirement.user_only
            )
            # A user session has no mode of its own: each call says which data it acts on.
            principal = replace(principal, livemode=bool(livemode))
        return replace(principal, origin=credentials.origin)


def _livemode(mode: str) -> bool | None:
    """Paygate-Mode as a livemode flag; None when the caller did not say."""
    if not mode:
        return None
    if mode not in ("live", "test"):
        raise InvalidArgument.field(
            "paygate-mode", "must be 'live' or 'test'", reason="INVALID_MODE"
        )
    return mode == "live"


def authorize(principal: Principal, requirement: Requirement) -> None:
    """Raises PermissionDenied unless the principal may call a method with `requirement`."""
    if requirement.user_only:
        if not principal.is_user:
            raise PermissionDenied(
                "Only a signed-in user can do this, not an API key.",
                reason="USER_SESSION_REQUIRED",
            )
        return
    if principal.is_publishable:
        if not (requirement.publishable and requirement.permission in PUBLISHABLE_PERMISSIONS):
            raise PermissionDenied(
                "A publishable key cannot call this method; use a secret key.",
                reason="PUBLISHABLE_KEY_NOT_ALLOWED",
            )
        return
    if requirement.permission not in principal.permissions:
        raise PermissionDenied(
            f"Your role does not grant {requirement.permission}.",
            reason="MISSING_PERMISSION",
            metadata={"permission": requirement.permission},
        )
