"""In-process idempotency records: the fake core tests use, and the embedded mode's store.

Mirrors adapters/sql/idempotency.py; tests/contract/test_idempotency_contract.py runs the
same cases against both.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime

from core.idempotency.model import Claim, Outcome, Record, Scope, State


class MemoryIdempotencyStore:
    def __init__(self) -> None:
        self.records: dict[Scope, Record] = {}
        self._lock = asyncio.Lock()

    async def claim(
        self, record: Record, *, now: datetime, expired_before: datetime
    ) -> Record | None:
        async with self._lock:
            held = self.records.get(record.scope)
            if held is not None and not (
                held.created_at <= expired_before
                or (
                    held.state is State.IN_FLIGHT
                    and held.locked_until <= now
                    and held.request_hash == record.request_hash
                )
            ):
                return held
            self.records[record.scope] = record
            return None

    def _holds(self, claim: Claim) -> Record | None:
        held = self.records.get(claim.scope)
        if held is None or held.state is not State.IN_FLIGHT:
            return None
        return held if held.locked_until == claim.locked_until else None

    async def find(self, scope: Scope) -> Record | None:
        return self.records.get(scope)

    async def complete(self, claim: Claim, outcome: Outcome, at: datetime) -> bool:
        async with self._lock:
            held = self._holds(claim)
            if held is None:
                return False
            self.records[claim.scope] = dataclasses.replace(
                held, state=State.COMPLETED, outcome=outcome, completed_at=at
            )
            return True

    async def release(self, claim: Claim) -> bool:
        async with self._lock:
            if self._holds(claim) is None:
                return False
            del self.records[claim.scope]
            return True

    async def reap(self, created_before: datetime, limit: int) -> int:
        async with self._lock:
            old = sorted(
                (r for r in self.records.values() if r.created_at <= created_before),
                key=lambda r: r.created_at,
            )[:limit]
            for record in old:
                del self.records[record.scope]
            return len(old)
