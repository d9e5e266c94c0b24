"""A confirm's phases write at the versions they hold; only that write's own conflict sends
them to the locked read (docs/payments.md, "Confirm without the locking reads"). The races
themselves, on the fake and on PostgreSQL: tests/contract/test_confirm_versioned_writes_contract.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from core.payments.model import AttemptStatus, PaymentEvent, Status
from core.shared.errors import Conflict
from core.unit_of_work import NOTHING_SAVED, Saved, UnitOfWork
from tests.unit.payments.conftest import build_world


class _RefusingBooks:
    """A ledger that refuses the capture's posting with a version conflict of its own."""

    async def record(
        self, uow: UnitOfWork, events: Sequence[PaymentEvent], saved: Saved = NOTHING_SAVED
    ) -> None:
        if any(e.to_status is Status.SUCCEEDED for e in events):
            raise Conflict("The ledger moved.", reason="CONCURRENT_UPDATE")


async def test_a_conflict_after_the_held_write_is_no_moved_version_and_commits_nothing() -> None:
    world = build_world(books=_RefusingBooks())
    try:
        intent = await world.intent()
        with pytest.raises(Conflict):
            await world.confirm_card(intent)
        stored = await world.stored(intent.id)
        # Phase 3 rolled back whole: the attempt is left in flight, for recovery.
        assert stored.status is Status.PROCESSING
        async with world.uow() as uow:
            attempt = await uow.payment_attempts.get(stored.latest_attempt)
        assert attempt is not None and attempt.status is AttemptStatus.PROCESSING
    finally:
        await world.upi.aclose()


async def test_a_payment_that_moved_nothing_writes_each_phase_once() -> None:
    world = build_world()
    try:
        intent = await world.intent()
        paid = await world.confirm_card(intent)
        assert paid.status is Status.SUCCEEDED
        stored = await world.stored(intent.id)
        # Created (1), phase 1 (2), phase 3 (3): no write was retried.
        assert stored.version == paid.version == 3
        async with world.uow() as uow:
            attempt = await uow.payment_attempts.get(stored.latest_attempt)
        assert attempt is not None and (attempt.status, attempt.version) == (
            AttemptStatus.CAPTURED,
            2,
        )
    finally:
        await world.upi.aclose()
