"""Begin, complete or release a call under an idempotency key; reap old keys."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.idempotency.call import DeferredClaim
from core.idempotency.model import (
    LOCK_DURATION,
    RETENTION,
    Claim,
    Outcome,
    Record,
    Scope,
    State,
    may_take_over,
    replay,
    request_hash,
)
from core.idempotency.ports import IdempotencyStore
from core.shared.ports import Clock


class Idempotency:
    def __init__(
        self,
        store: IdempotencyStore,
        clock: Clock,
        *,
        hash_key: bytes,
        retention: timedelta = RETENTION,
        lock_duration: timedelta = LOCK_DURATION,
        claims_in_transaction: bool = False,
    ) -> None:
        if len(hash_key) < 16:
            raise ValueError("the request hash key must be at least 16 bytes")
        self._store = store
        self._clock = clock
        self._hash_key = hash_key
        self.retention = retention
        self.lock_duration = lock_duration
        # Whether the call's unit of work can claim and answer keys of this store inside
        # its own transactions (the same database): core/idempotency/call.py.
        self.claims_in_transaction = claims_in_transaction

    def request_hash(self, *, livemode: bool, request: bytes) -> bytes:
        """The stored fingerprint of a canonically serialized request."""
        return request_hash(self._hash_key, livemode=livemode, request=request)

    async def begin(self, scope: Scope, request_hash: bytes) -> Claim | Outcome:
        """A Claim when this call is to run (then complete() or release() it), or the
        stored Outcome of an earlier call to replay.

        Raises IdempotencyKeyReused when the key holds another request, and
        IdempotencyKeyInUse while an earlier call with the same request still runs.
        """
        now = self._clock.now()
        claim = Claim(scope, request_hash, locked_until=now + self.lock_duration)
        record = Record(
            scope=scope,
            request_hash=request_hash,
            state=State.IN_FLIGHT,
            created_at=now,
            locked_until=claim.locked_until,
        )
        held = await self._store.claim(record, now=now, expired_before=now - self.retention)
        if held is None:
            return claim
        return replay(held, request_hash)

    async def check(self, scope: Scope, request_hash: bytes) -> DeferredClaim | Outcome:
        """Like begin(), but only reads: a free key comes back as a DeferredClaim for the
        call's first writing transaction to take (core/idempotency/call.py). Raises as
        begin() does when the key is held."""
        now = self._clock.now()
        held = await self._store.find(scope)
        if held is not None and not may_take_over(held, request_hash, now, self.retention):
            return replay(held, request_hash)
        record = Record(
            scope=scope,
            request_hash=request_hash,
            state=State.IN_FLIGHT,
            created_at=now,
            locked_until=now + self.lock_duration,
        )
        return DeferredClaim(
            record, now=now, expired_before=now - self.retention, clock=self._clock
        )

    async def record(
        self, scope: Scope, request_hash: bytes, outcome: Outcome
    ) -> tuple[Outcome, bool]:
        """Records a key with the outcome of a call that ran without claiming it first (one
        write; for calls safe to repeat, docs/idempotency.md "Recorded after the call").
        Returns the outcome to answer and whether it is this call's: when another call
        recorded the key first, its stored outcome (this call's work is left unused).
        Raises as begin() does when the key holds another request, or a running claim."""
        now = self._clock.now()
        record = Record(
            scope=scope,
            request_hash=request_hash,
            state=State.COMPLETED,
            created_at=now,
            locked_until=now,
            completed_at=now,
            outcome=outcome,
        )
        held = await self._store.claim(record, now=now, expired_before=now - self.retention)
        if held is None:
            return outcome, True
        return replay(held, request_hash), False

    async def complete(self, claim: Claim, outcome: Outcome) -> bool:
        """Stores the outcome for replays; False when the claim had lost the key (its call
        outlived the lock and a retry took over: that retry's outcome will be kept)."""
        return await self._store.complete(claim, outcome, self._clock.now())

    async def release(self, claim: Claim) -> bool:
        """Frees the key without storing anything: the next call with it runs afresh."""
        return await self._store.release(claim)

    async def reap_expired(self, now: datetime, limit: int) -> int:
        """Deletes up to `limit` keys older than the retention; returns how many. A worker
        calls it until it returns less than `limit`."""
        if limit < 1:
            raise ValueError("limit must be positive")
        return await self._store.reap(now - self.retention, limit)
