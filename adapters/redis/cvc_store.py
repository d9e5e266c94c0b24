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

from datetime import datetime

from adapters.redis.errors import REDIS_DOWN
from adapters.redis.expiring import ExpiringValues
from core.shared.errors import Unavailable

KEY_PREFIX = "paygate:vault:cvc:"
_DOWN = REDIS_DOWN


def _unavailable() -> Unavailable:
    return Unavailable("The CVC store is unavailable.", reason="VAULT_CVC_STORE_UNAVAILABLE")


class RedisCvcStore(ExpiringValues):
    PREFIX = KEY_PREFIX

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def put(self, key: str, sealed: bytes, *, expires_at: datetime) -> None:
        ttl_ms = self._ttl_ms(expires_at)
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
