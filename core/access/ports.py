"""What the access context needs from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from core.access.model import ApiKey, Merchant


class MerchantRepository(Protocol):
    async def add(self, merchant: Merchant) -> None: ...

    async def get(self, merchant_id: str) -> Merchant | None: ...


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def by_lookup(self, lookup: str) -> Sequence[ApiKey]:
        """Keys whose clear prefix is `lookup` (almost always zero or one)."""
        ...

    async def get(self, merchant_id: str, key_id: str) -> ApiKey | None: ...

    async def list(
        self, merchant_id: str, *, limit: int, starting_after: str | None = None
    ) -> Sequence[ApiKey]:
        """Newest first."""
        ...

    async def revoke(self, merchant_id: str, key_id: str, at: datetime) -> None: ...

    async def record_use(self, key_id: str, at: datetime) -> None:
        """Sets last_used_at and increments usage_count in one statement."""
        ...
