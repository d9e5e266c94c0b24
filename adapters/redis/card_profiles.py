"""adapters.vault.profile_handoff.ProfileHandoff on Redis: the vault role puts, the API
processes take (SET with the token's remaining lifetime as TTL; GETDEL, so one confirm
takes a profile). The value is the profile as JSON under a digest of the token id.

Redis down is no error here: a profile not put or not taken is DescribeForPayment's
round trip, as without the handoff.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from adapters.redis.errors import REDIS_FAILED
from adapters.redis.expiring import ExpiringValues
from adapters.vault.profile_handoff import HandedOff, handoff_key
from core.payments.ports import CardProfile

KEY_PREFIX = "paygate:zone:card_profile:"

log = logging.getLogger("paygate.vault")


class RedisProfileHandoff(ExpiringValues):
    PREFIX = KEY_PREFIX
    # Short: a profile not taken in time is DescribeForPayment's round trip, not a failure.
    TIMEOUT_SECONDS = 0.5

    async def put(self, token_id: str, handed: HandedOff, *, expires_at: datetime) -> None:
        ttl_ms = self._ttl_ms(expires_at)
        if ttl_ms <= 0:
            return
        p = handed.profile
        fields = (handed.merchant_id, handed.livemode, p.brand, p.last4, p.iin)
        value = json.dumps([*fields, p.fingerprint, p.funding, p.country, p.test_card])
        try:
            await self._redis.set(self._prefix + handoff_key(token_id), value, px=ttl_ms)
        except REDIS_FAILED as error:
            log.warning("card profile not handed off: %s", type(error).__name__)

    async def take(self, token_id: str) -> HandedOff | None:
        try:
            value = await self._redis.getdel(self._prefix + handoff_key(token_id))
        except REDIS_FAILED as error:
            log.warning("handed-off card profile not read: %s", type(error).__name__)
            return None
        if value is None:
            return None
        try:
            merchant, livemode, brand, last4, iin, fingerprint, funding, country, test = json.loads(
                value
            )
        except ValueError:
            return None
        profile = CardProfile(
            brand=brand,
            last4=last4,
            iin=iin,
            fingerprint=fingerprint,
            funding=funding,
            country=country,
            test_card=bool(test),
        )
        return HandedOff(str(merchant), bool(livemode), profile)
