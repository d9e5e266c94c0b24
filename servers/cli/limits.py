"""`paygate limits set`: an operator sets a merchant's own rate limits for a route class.

    paygate limits set --merchant acct_... [--merchant acct_...] --class payments_create \
        1000/second [10000000/hour]     (no limit: back to the defaults)

The limits replace the class's defaults (core/access/rate_limits.py) for that merchant,
and every API process sees them within OVERRIDE_CACHE_TTL (30 s). Each change is in the
merchant's audit log, with the operator as the actor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from adapters.ratelimit import LimitsRateLimiter
from adapters.system import SystemClock
from core.access.model import Principal
from core.access.rate_limits import RateLimits
from core.shared.errors import InvalidArgument
from servers.bootstrap.database import database

Say = Callable[..., None]

OK, BAD_INPUT = 0, 2
# The actor written into the audit log for a change made with this command.
OPERATOR = "operator:cli"


async def set_limits(
    database_url: str, merchants: Sequence[str], route_class: str, limits: Sequence[str], say: Say
) -> int:
    async with database(database_url) as db:
        uow = db.uow
        # The limiter is never asked here: configure() only writes the overrides.
        rate_limits = RateLimits(LimitsRateLimiter("memory://"), uow, SystemClock())
        for merchant_id in merchants:
            async with uow() as unit:
                known = await unit.merchants.get(merchant_id)
            if known is None:
                say("error", "no such merchant", merchant=merchant_id)
                return BAD_INPUT
            caller = Principal(merchant_id=merchant_id, livemode=False, actor=OPERATOR, role=None)
            try:
                await rate_limits.configure(caller, route_class, tuple(limits))
            except InvalidArgument as error:
                problem: Any = error.violations[0].description if error.violations else str(error)
                say("error", "limits refused", route_class=route_class, problem=problem)
                return BAD_INPUT
            say(
                "info",
                "rate limits set",
                merchant=merchant_id,
                route_class=route_class,
                limits=",".join(limits) or "default",
            )
    return OK
