"""What the idempotency layer needs from the outside world."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.idempotency.model import Claim, Outcome, Record, Scope


class IdempotencyStore(Protocol):
    """Durable records of idempotency keys. Each method is its own short transaction,
    never part of the call's unit of work: a concurrent duplicate must see the claim at
    once, and the outcome must be kept whatever the call's transaction did. (A store on
    the call's own database may instead be claimed and answered by the call's commits,
    with the same statements: core/idempotency/call.py.)"""

    async def claim(
        self, record: Record, *, now: datetime, expired_before: datetime
    ) -> Record | None:
        """Stores `record` (IN_FLIGHT; or COMPLETED, a key recorded with its answer after
        the call ran) unless another record holds its scope; returns None when it was
        stored, else the record that holds the scope, unchanged.

        A holding record is replaced by `record` (taken over) when it was created at or
        before `expired_before`, or when it is IN_FLIGHT with `locked_until <= now` and
        the same request_hash. Atomic: of concurrent claims on one scope, one wins.
        """
        ...

    async def find(self, scope: Scope) -> Record | None:
        """The record that holds `scope`, if any; a plain read that locks nothing."""
        ...

    async def complete(self, claim: Claim, outcome: Outcome, at: datetime) -> bool:
        """Marks the claimed record COMPLETED with `outcome`; False (and no change) when
        the claim no longer holds the key (IN_FLIGHT with the claim's locked_until)."""
        ...

    async def release(self, claim: Claim) -> bool:
        """Deletes the claimed record so that the key is free again; False (and no
        change) when the claim no longer holds the key."""
        ...

    async def reap(self, created_before: datetime, limit: int) -> int:
        """Deletes up to `limit` records created at or before `created_before`; returns
        how many. Concurrent reapers skip each other's rows."""
        ...
