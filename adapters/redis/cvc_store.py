"""The CVC store on Redis: `core.vault.ports.CvcStore` for a vault with several replicas.

What is stored is the CVC SEALED by the vault (AES-256-GCM under the merchant's data key,
bound to `<tok_/pm_ id>#cvc`), never the digits: whoever reads Redis (a dump, a replica, an
operator's MONITOR) sees ciphertext, and the data key that opens it lives wrapped in the
vault's database only. Each entry has a TTL (the token's remaining lifetime, 15 minutes at
most), so Redis drops it on its own when no authorization takes it; `pop` is GETDEL, one
atomic command, so two authorizations can never both take one CVC.

Run Redis without persistence for this database (`save ""`, `appendonly no`) if you can:
the entries are ciphertext either way, but there is no reason to write them to disk.
A Redis outage is UNAVAILABLE (VAULT_CVC_STORE_UNAVAILABLE): tokenization fails and is
retried rather than silently dropping the CVC.
"""

from __future__ import annotations

import math
from datetime import datetime

import redis.asyncio

from adapters.redis.errors import REDIS_DOWN
from core.shared.errors import Unavailable
from core.shared.ports import Clock

KEY_PREFIX = "paygate:vault:cvc:"
_DOWN = REDIS_DOWN


def _unavailable() -> Unavailable:
    return Unavailable("The CVC store is unavailable.", reason="VAULT_CVC_STORE_UNAVAILABLE")


class RedisCvcStore:
    def __init__(
        self, client: redis.asyncio.Redis, clock: Clock, *, prefix: str = KEY_PREFIX
    ) -> None:
        self._redis = client
        self._clock = clock
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, clock: Clock, *, timeout_seconds: float = 1.0) -> RedisCvcStore:
        client = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
        )
        return cls(client, clock)

    async def aclose(self) -> None:
        await self._redis.aclose()

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def put(self, key: str, sealed: bytes, *, expires_at: datetime) -> None:
        ttl_ms = math.floor((expires_at - self._clock.now()).total_seconds() * 1000)
        if ttl_ms <= 0:
            return
        try:
            await self._redis.set(self._key(key), sealed, px=ttl_ms)
        except _DOWN:
            raise _unavailable() from None

    async def pop(self, key: str) -> bytes | None:
        try:
            value = await self._redis.getdel(self._key(key))
        except _DOWN:
            raise _unavailable() from None
        if value is None:
            return None
        # The client is built without decode_responses: values come back as bytes.
        return value if isinstance(value, bytes) else value.encode("latin-1")

    async def discard(self, key: str) -> None:
        try:
            await self._redis.delete(self._key(key))
        except _DOWN:
            raise _unavailable() from None
