"""Rate limits per merchant (or per client address) and route class.

Each RPC names its route class in its proto ((paygate.v1.access).rate_limit_class; none
means `default`). A class has one or more limits, all of which must admit a call; a
merchant may have its own limits for a class (rate_limit_overrides), read through a
short cache so that a request costs no extra query.

Classes of unauthenticated methods (signup, login, refresh) are counted per client
address instead: there is no merchant yet, and they are what a credential-stuffing
attack hammers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

from core.access.audit import Action, caller_event
from core.access.model import Principal
from core.access.ports import RateLimiter
from core.shared.cache import TtlCache
from core.shared.errors import InvalidArgument, ResourceExhausted
from core.shared.ports import Clock
from core.unit_of_work import UnitOfWorkFactory

DEFAULT_CLASS = "default"
DEFAULT_LIMITS: dict[str, tuple[str, ...]] = {
    # Shortest window first: a call the per-second limit refuses is not counted against
    # the hour (see RateLimits.check).
    "payments_create": ("20/second", "10000/hour"),
    "default": ("100/second",),
    # Per client address:
    "login": ("5/minute",),
    "signup": ("10/hour",),
    "auth": ("60/minute",),
    # Shoppers' browsers on the checkout pages (the 3-D Secure challenge): generous, since
    # many shoppers may share one address (carrier NAT).
    "pages": ("300/minute",),
}
PER_ORIGIN_CLASSES = frozenset({"login", "signup", "auth", "pages"})

# How long a process keeps a merchant's overrides before reading them again: a change
# takes effect within this time on every API process.
OVERRIDE_CACHE_TTL = timedelta(seconds=30)

_LIMIT = re.compile(r"^[1-9][0-9]{0,8}/(?:[1-9][0-9]{0,4} )?(?:second|minute|hour|day)s?$")
MAX_LIMITS_PER_CLASS = 4


def valid_limit(limit: str) -> bool:
    """ "20/second", "10000/hour", "100/10 minutes": the `limits` library's notation."""
    return _LIMIT.match(limit) is not None


class RateLimits:
    def __init__(
        self,
        limiter: RateLimiter,
        uow: UnitOfWorkFactory,
        clock: Clock,
        *,
        defaults: Mapping[str, tuple[str, ...]] = DEFAULT_LIMITS,
    ) -> None:
        self._limiter = limiter
        self._uow = uow
        self._clock = clock
        self._defaults = dict(defaults)
        self._cache: TtlCache[Mapping[str, tuple[str, ...]]] = TtlCache(clock, OVERRIDE_CACHE_TTL)

    def known_class(self, route_class: str) -> bool:
        return (route_class or DEFAULT_CLASS) in self._defaults

    def per_origin(self, route_class: str) -> bool:
        """Counted per client address rather than per merchant."""
        return route_class in PER_ORIGIN_CLASSES

    async def check_merchant(self, merchant_id: str, route_class: str) -> None:
        route_class = route_class or DEFAULT_CLASS
        overrides = await self._overrides(merchant_id)
        limits = overrides.get(route_class) or self._defaults[route_class]
        await self._check(f"{route_class}:acct:{merchant_id}", limits)

    async def check_origin(self, origin: str, route_class: str) -> None:
        route_class = route_class or DEFAULT_CLASS
        await self._check(f"{route_class}:ip:{origin or 'unknown'}", self._defaults[route_class])

    async def _check(self, key: str, limits: tuple[str, ...]) -> None:
        # Stop at the first refusal: the longer windows do not count a refused call, so a
        # burst the per-second limit turns away does not eat the hourly budget.
        for limit in limits:
            result = await self._limiter.hit(key, limit)
            if not result.allowed:
                raise ResourceExhausted(
                    f"Too many requests: the limit is {limit}. Retry after "
                    f"{result.retry_after_seconds} s.",
                    retry_after_seconds=result.retry_after_seconds,
                )

    async def _overrides(self, merchant_id: str) -> Mapping[str, tuple[str, ...]]:
        async def load() -> Mapping[str, tuple[str, ...]]:
            async with self._uow() as uow:
                return await uow.rate_limit_overrides.for_merchant(merchant_id)

        return await self._cache.get(merchant_id, load)

    async def configure(self, caller: Principal, route_class: str, limits: tuple[str, ...]) -> None:
        """Sets the caller's merchant's own limits for a class; no limits restores the
        defaults. An operator's tool: no public RPC calls it."""
        if route_class not in self._defaults or route_class in PER_ORIGIN_CLASSES:
            raise InvalidArgument.field("route_class", "is not a per-merchant route class")
        if len(limits) > MAX_LIMITS_PER_CLASS or not all(valid_limit(x) for x in limits):
            raise InvalidArgument.field(
                "limits", f"at most {MAX_LIMITS_PER_CLASS} limits such as 20/second"
            )
        now = self._clock.now()
        async with self._uow() as uow:
            if limits:
                await uow.rate_limit_overrides.set(caller.merchant_id, route_class, limits, now)
            else:
                await uow.rate_limit_overrides.clear(caller.merchant_id, route_class)
            await uow.audit.append(
                caller_event(
                    caller,
                    Action.RATE_LIMITS_CHANGE,
                    now,
                    target=route_class,
                    details={"limits": ",".join(limits) or "default"},
                )
            )
            await uow.commit()
        self._cache.forget(caller.merchant_id)
