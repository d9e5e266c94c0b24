"""A call whose idempotency key is claimed and answered in the call's own commits.

A key on its own costs two commits of its own: the claim before the call, the answer
after it. For the calls that allow it (docs/idempotency.md, "In the call's own
transactions"), the key is read first, claimed by the call's first writing transaction
and answered by its last one, so both ride on commits the call makes anyway:

- The read finds the key held (answered, running, another request): the call is answered
  from it at once, exactly as a claim that lost would be.
- The key is free: the call runs with a DeferredClaim in `current`. Its first writing
  transaction claims the key as its first statement (the same INSERT ... ON CONFLICT as
  a claim of its own); a claim that loses raises ClaimLost, so that transaction rolls
  back and nothing of the call was committed, and the call is answered as a lost claim
  is. Until then the call only read: a duplicate running beside it changes nothing.
- The transaction that gives the call's answer (`UnitOfWork.conclude`) also stores it;
  when it commits, the answer is kept; when it does not, neither is. Every other ending
  (an error to store, an error that releases the key, a call that never wrote) takes the
  key's own transactions as before.

The claim belongs to the task that runs the call: a task started during the call copies
the context but never takes or answers the key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

from core.idempotency.model import Claim, Outcome, Record
from core.shared.ports import Clock


class ClaimLost(Exception):
    """The call's first writing transaction found its key taken: it was rolled back."""


@dataclass(eq=False)
class DeferredClaim:
    record: Record  # IN_FLIGHT: what the claim inserts
    now: datetime
    expired_before: datetime  # records created at or before it may be replaced
    clock: Clock  # for completed_at
    # The answer's bytes, from the object a transaction concludes with; None: not storable
    # with the transaction (the call then stores its answer after it, as before).
    render: Callable[[object], bytes | None] | None = None
    claimed: bool = False  # a committed transaction holds the key
    claiming: bool = False  # a transaction not yet ended holds it
    answer: Outcome | None = None  # stored by a committed transaction of the call
    task: asyncio.Task[object] | None = field(default_factory=asyncio.current_task)

    @property
    def claim(self) -> Claim:
        return Claim(self.record.scope, self.record.request_hash, self.record.locked_until)

    def is_ours(self) -> bool:
        return self.task is asyncio.current_task()


current: ContextVar[DeferredClaim | None] = ContextVar("idempotency_deferred_claim", default=None)


def deferred() -> DeferredClaim | None:
    """The running call's deferred claim, if this task runs such a call."""
    call = current.get()
    return call if call is not None and call.is_ours() else None
