"""The access gate's rules and the rate-limit policy, with a counting fake limiter."""

from __future__ import annotations

from collections import Counter

import pytest

from core.access.gate import Requirement, authorize
from core.access.model import Principal
from core.access.ports import RateLimitResult
from core.access.rate_limits import RateLimits, valid_limit
from core.access.roles import ROLE_PERMISSIONS, Role, may_grant
from core.shared.errors import InvalidArgument, PermissionDenied, ResourceExhausted
from tests.fakes import FixedClock
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory


class CountingLimiter:
    """Allows `limit`'s count per (key, limit) and records every hit."""

    def __init__(self) -> None:
        self.hits: Counter[tuple[str, str]] = Counter()

    async def hit(self, key: str, limit: str) -> RateLimitResult:
        self.hits[(key, limit)] += 1
        allowed = self.hits[(key, limit)] <= int(limit.split("/")[0])
        return RateLimitResult(allowed, 0 if allowed else 7)


def key(role: Role | None = None, *, publishable: bool = False) -> Principal:
    return Principal("acct_a", False, "key_a", role, is_publishable=publishable)


def user(role: Role | None) -> Principal:
    return Principal("acct_a", False, "usr_a", role, user_id="usr_a")


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", sorted({p for ps in ROLE_PERMISSIONS.values() for p in ps}))
def test_a_role_may_do_exactly_what_its_permissions_say(role: Role, permission: str) -> None:
    requirement = Requirement(permission=permission)
    for principal in (key(role), user(role)):
        if permission in ROLE_PERMISSIONS[role]:
            authorize(principal, requirement)
        else:
            with pytest.raises(PermissionDenied) as raised:
                authorize(principal, requirement)
            assert raised.value.metadata == {"permission": permission}


def test_publishable_keys_only_where_the_proto_allows() -> None:
    authorize(key(publishable=True), Requirement("payments:read", publishable=True))
    for requirement in (Requirement("payments:read"), Requirement(user_only=True)):
        with pytest.raises(PermissionDenied):
            authorize(key(publishable=True), requirement)


def test_user_only_methods_refuse_api_keys() -> None:
    authorize(user(None), Requirement(user_only=True))
    with pytest.raises(PermissionDenied) as raised:
        authorize(key(Role.OWNER), Requirement(user_only=True))
    assert raised.value.reason == "USER_SESSION_REQUIRED"


@pytest.mark.parametrize(
    ("requirement", "problem"),
    [
        (Requirement(), "exactly one"),
        (Requirement("payments:read", unauthenticated=True), "exactly one"),
        (Requirement("payments:fly"), "unknown permission"),
        (Requirement("refunds:write", publishable=True), "publishable"),
    ],
)
def test_bad_declarations_are_reported(requirement: Requirement, problem: str) -> None:
    assert any(problem in p for p in requirement.problems())


def test_may_grant_is_a_subset_rule() -> None:
    assert may_grant(Role.OWNER, Role.OWNER)
    assert not may_grant(Role.ADMIN, Role.OWNER)
    assert not may_grant(Role.MANAGER, Role.DEVELOPER)  # api_keys:write
    assert not may_grant(None, Role.STAFF)
    assert all(may_grant(role, Role.STAFF) for role in Role)


@pytest.mark.parametrize("limit", ["20/second", "10000/hour", "100/10 minutes", "5/minute"])
def test_valid_limits(limit: str) -> None:
    assert valid_limit(limit)


@pytest.mark.parametrize("limit", ["", "0/second", "lots", "20/fortnight", "-1/second", "1/0 hour"])
def test_invalid_limits(limit: str) -> None:
    assert not valid_limit(limit)


@pytest.fixture
def limiter() -> CountingLimiter:
    return CountingLimiter()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def limits(limiter: CountingLimiter, clock: FixedClock) -> RateLimits:
    defaults = {
        "payments_create": ("2/second", "3/hour"),
        "default": ("5/second",),
        "login": ("1/minute",),
    }
    return RateLimits(limiter, MemoryUnitOfWorkFactory(), clock, defaults=defaults)


async def test_every_limit_of_a_class_applies_and_refusals_spare_the_longer_ones(
    limits: RateLimits, limiter: CountingLimiter
) -> None:
    for _ in range(2):
        await limits.check_merchant("acct_a", "payments_create")
    with pytest.raises(ResourceExhausted) as raised:
        await limits.check_merchant("acct_a", "payments_create")
    assert raised.value.retry_after_seconds == 7
    assert raised.value.metadata == {"retry_after": "7"}
    # The refused call was not counted against the hour.
    assert limiter.hits[("payments_create:acct:acct_a", "3/hour")] == 2
    await limits.check_merchant("acct_b", "payments_create")  # merchants apart
    await limits.check_merchant("acct_a", "")  # other classes apart ("" is default)


async def test_per_origin_classes_count_by_address(limits: RateLimits) -> None:
    await limits.check_origin("10.0.0.1", "login")
    await limits.check_origin("10.0.0.2", "login")
    with pytest.raises(ResourceExhausted):
        await limits.check_origin("10.0.0.1", "login")


async def test_a_merchant_may_have_its_own_limits(
    limits: RateLimits, limiter: CountingLimiter, clock: FixedClock
) -> None:
    owner = Principal("acct_big", False, "usr_ops", Role.OWNER)
    await limits.configure(owner, "payments_create", ("4/second",))
    for _ in range(4):
        await limits.check_merchant("acct_big", "payments_create")
    with pytest.raises(ResourceExhausted):
        await limits.check_merchant("acct_big", "payments_create")

    for route_class, bad in [
        ("login", ("1/second",)),
        ("nope", ("1/second",)),
        ("default", ("x",)),
    ]:
        with pytest.raises(InvalidArgument):
            await limits.configure(owner, route_class, bad)

    await limits.configure(owner, "payments_create", ())  # back to the defaults
    clock.advance(seconds=31)
    assert limits.known_class("payments_create") and not limits.known_class("nope")
