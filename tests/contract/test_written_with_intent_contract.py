"""An attempt or a refund written with its intent (add_with_intent, update_with_intent):
PostgreSQL (one statement) and the fakes agree. Both rows and the intent's history lines
are written, or none of them: a stale intent writes no attempt or refund, a stale attempt
or refund leaves the intent as it was, each with the error its own update raises.

The checks of what a failed write left read in the same transaction, before it ends: the
statement itself wrote nothing, not only its rolled-back transaction.
"""

from __future__ import annotations

import fnmatch

import pytest

from adapters.sql import unit_of_work
from adapters.system import RandomIds
from core.payments.model import (
    AttemptStatus,
    PaymentAttempt,
    PaymentIntent,
    Refund,
    RefundStatus,
    Status,
)
from core.shared.errors import Conflict
from core.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.contract.helpers import (
    add_attempt,
    add_intent,
    add_merchant,
    later,
    new_attempt,
    new_refund,
)

INTENT_CHANGED = "The payment intent was changed concurrently."
ATTEMPT_CHANGED = "The payment attempt was changed concurrently."
REFUND_CHANGED = "The refund was changed concurrently."


async def _locked(uow: UnitOfWork, intent: PaymentIntent) -> PaymentIntent:
    loaded = await uow.payment_intents.get(intent.merchant_id, intent.id, for_update=True)
    assert loaded is not None
    return loaded


async def _state(
    uow: UnitOfWork, intent: PaymentIntent
) -> tuple[PaymentIntent | None, list[PaymentAttempt], list[Refund], int]:
    """The intent, its attempts, its refunds and the number of its history lines."""
    merchant_id = intent.merchant_id
    return (
        await uow.payment_intents.get(merchant_id, intent.id),
        list(await uow.payment_attempts.for_intent(merchant_id, intent.id)),
        list(await uow.refunds.list(merchant_id, limit=10, payment_intent_id=intent.id)),
        len(await uow.payment_events.for_intent(merchant_id, intent.id)),
    )


# --- attempts ---------------------------------------------------------------------------


@pytest.mark.parametrize("stale", [False, True], ids=["current", "stale"])
async def test_a_new_attempt_is_written_with_its_intent_and_lines_or_none(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str, stale: bool
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    async with any_uow_factory() as uow:
        before = await _state(uow, intent)
        loaded = await _locked(uow, intent)
        if stale:
            loaded.version -= 1  # another writer's version
        attempt = new_attempt(ids, loaded)
        loaded.transition(Status.PROCESSING, actor="key_a", at=later(1), object_id=attempt.id)
        loaded.latest_attempt, loaded.attempts = attempt.id, 1
        events = loaded.pull_events()
        if stale:
            with pytest.raises(Conflict, match=INTENT_CHANGED):
                await uow.payment_attempts.add_with_intent(attempt, loaded, events)
            assert await uow.payment_attempts.get(attempt.id) is None
            assert await _state(uow, intent) == before
            assert loaded.version == 0  # untouched
            return
        await uow.payment_attempts.add_with_intent(attempt, loaded, events)
        assert (loaded.version, attempt.version) == (2, 1)
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.payment_intents.get(merchant_id, intent.id) == loaded
        assert await uow.payment_attempts.get(attempt.id) == attempt
        assert list(await uow.payment_events.for_intent(merchant_id, intent.id))[-1:] == events


async def test_a_second_active_attempt_is_refused_and_the_intent_left_alone(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    await add_attempt(any_uow_factory, ids, intent)
    async with any_uow_factory() as uow:
        before = await _state(uow, intent)
    async with any_uow_factory() as uow:
        loaded = await _locked(uow, intent)
        loaded.description = "never saved"
        with pytest.raises(Conflict) as refused:
            await uow.payment_attempts.add_with_intent(new_attempt(ids, loaded), loaded)
        assert refused.value.reason == "ATTEMPT_IN_PROGRESS"
    async with any_uow_factory() as uow:
        assert await _state(uow, intent) == before


async def _with_attempt(
    uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> tuple[PaymentIntent, PaymentAttempt]:
    intent = await add_intent(uow_factory, ids, merchant_id)
    async with uow_factory() as uow:
        loaded = await _locked(uow, intent)
        attempt = new_attempt(ids, loaded)
        loaded.transition(Status.PROCESSING, actor="key_a", at=later(1), object_id=attempt.id)
        await uow.payment_attempts.add_with_intent(attempt, loaded, loaded.pull_events())
        await uow.commit()
    return loaded, attempt


def _authorize(intent: PaymentIntent, attempt: PaymentAttempt) -> None:
    attempt.status = AttemptStatus.AUTHORIZED
    attempt.amount_authorized = attempt.amount
    attempt.authorization_code = "A1B2C3"
    attempt.updated_at = attempt.authorized_at = later(2)
    intent.amount_capturable = attempt.amount
    intent.transition(Status.REQUIRES_CAPTURE, actor="system", at=later(2), object_id=attempt.id)


async def test_an_attempt_is_updated_with_its_intent_and_lines(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent, attempt = await _with_attempt(any_uow_factory, ids, merchant_id)
    async with any_uow_factory() as uow:
        pair = await uow.payment_attempts.locked_with_intent(merchant_id, attempt.id)
        assert pair is not None
        loaded, fresh = pair
        _authorize(loaded, fresh)
        events = loaded.pull_events()
        await uow.payment_attempts.update_with_intent(fresh, loaded, events)
        assert (loaded.version, fresh.version) == (3, 2)
        # Without lines, too.
        fresh.acquirer_code = "00"
        loaded.description = "authorized"
        await uow.payment_attempts.update_with_intent(fresh, loaded)
        assert (loaded.version, fresh.version) == (4, 3)
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.payment_intents.get(merchant_id, intent.id) == loaded
        assert await uow.payment_attempts.get(attempt.id) == fresh
        assert list(await uow.payment_events.for_intent(merchant_id, intent.id))[-1:] == events


@pytest.mark.parametrize(
    ("stale", "lines"), [("intent", True), ("intent", False), ("attempt", True)]
)
async def test_a_stale_intent_or_attempt_writes_neither(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str, stale: str, lines: bool
) -> None:
    intent, attempt = await _with_attempt(any_uow_factory, ids, merchant_id)
    async with any_uow_factory() as uow:
        before = await _state(uow, intent)
        pair = await uow.payment_attempts.locked_with_intent(merchant_id, attempt.id)
        assert pair is not None
        loaded, fresh = pair
        if stale == "intent":
            loaded.version -= 1  # another writer's version
        else:
            fresh.version += 1  # a version the attempt does not have
        versions = (loaded.version, fresh.version)
        _authorize(loaded, fresh)
        events = loaded.pull_events() if lines else []
        with pytest.raises(
            Conflict, match=INTENT_CHANGED if stale == "intent" else ATTEMPT_CHANGED
        ):
            await uow.payment_attempts.update_with_intent(fresh, loaded, events)
        assert await _state(uow, intent) == before
        assert (loaded.version, fresh.version) == versions


# --- refunds ----------------------------------------------------------------------------


async def _captured(
    uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> tuple[PaymentIntent, PaymentAttempt]:
    _, attempt = await _with_attempt(uow_factory, ids, merchant_id)
    async with uow_factory() as uow:
        pair = await uow.payment_attempts.locked_with_intent(merchant_id, attempt.id)
        assert pair is not None
        loaded, fresh = pair
        fresh.status = AttemptStatus.CAPTURED
        fresh.amount_authorized = fresh.amount_captured = fresh.amount
        loaded.amount_received = fresh.amount
        loaded.transition(Status.SUCCEEDED, actor="system", at=later(3), object_id=fresh.id)
        await uow.payment_attempts.update_with_intent(fresh, loaded, loaded.pull_events())
        await uow.commit()
    return loaded, fresh


async def test_a_refund_is_added_and_settled_with_its_intent(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent, attempt = await _captured(any_uow_factory, ids, merchant_id)
    refund = new_refund(ids, attempt, amount=700)
    async with any_uow_factory() as uow:
        loaded = await _locked(uow, intent)
        loaded.reserve_refund(refund, actor="key_a", at=later(4))
        events = loaded.pull_events()
        await uow.refunds.add_with_intent(refund, loaded, events)
        assert loaded.version == intent.version + 1
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.payment_intents.get(merchant_id, intent.id) == loaded
        assert await uow.refunds.get(merchant_id, refund.id) == refund
        assert list(await uow.payment_events.for_intent(merchant_id, intent.id))[-1:] == events

    async with any_uow_factory() as uow:
        again = await _locked(uow, intent)
        fresh = await uow.refunds.get(merchant_id, refund.id, for_update=True)
        assert fresh is not None
        fresh.settle(RefundStatus.SUCCEEDED, later(5), acquirer_reference="simnet_ref_9")
        again.description = "refunded in part"
        await uow.refunds.update_with_intent(fresh, again)
        assert (again.version, fresh.version) == (loaded.version + 1, 2)
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.payment_intents.get(merchant_id, intent.id) == again
        assert await uow.refunds.get(merchant_id, refund.id) == fresh


async def test_a_stale_intent_writes_no_refund(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent, attempt = await _captured(any_uow_factory, ids, merchant_id)
    async with any_uow_factory() as uow:
        before = await _state(uow, intent)
        stale = await _locked(uow, intent)
        stale.version -= 1
        refund = new_refund(ids, attempt)
        stale.reserve_refund(refund, actor="key_a", at=later(4))
        with pytest.raises(Conflict, match=INTENT_CHANGED):
            await uow.refunds.add_with_intent(refund, stale, stale.pull_events())
        assert await uow.refunds.get(merchant_id, refund.id) is None
        assert await _state(uow, intent) == before


@pytest.mark.parametrize("stale", ["intent", "refund"])
async def test_a_stale_refund_or_intent_writes_neither(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str, stale: str
) -> None:
    intent, attempt = await _captured(any_uow_factory, ids, merchant_id)
    refund = new_refund(ids, attempt)
    async with any_uow_factory() as uow:
        loaded = await _locked(uow, intent)
        loaded.reserve_refund(refund, actor="key_a", at=later(4))
        await uow.refunds.add_with_intent(refund, loaded, loaded.pull_events())
        await uow.commit()
    async with any_uow_factory() as uow:
        before = await _state(uow, intent)
        again = await _locked(uow, intent)
        fresh = await uow.refunds.get(merchant_id, refund.id, for_update=True)
        assert fresh is not None
        fresh.settle(RefundStatus.FAILED, later(5), failure_code="expired_card")
        again.description = "never saved"
        if stale == "intent":
            again.version -= 1
        else:
            fresh.version += 1
        expected = INTENT_CHANGED if stale == "intent" else REFUND_CHANGED
        with pytest.raises(Conflict, match=expected):
            await uow.refunds.update_with_intent(fresh, again)
        assert await _state(uow, intent) == before


# --- the fail points of its commit (PostgreSQL) -----------------------------------------


async def test_a_commit_of_the_one_statement_names_both_tables_at_its_fail_points(
    uow_factory: UnitOfWorkFactory,
    ids: RandomIds,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fail point armed on either table (`sql.commit.after:*payment_attempts*`, the
    crash runs' `*refunds*`, one on `*payment_intents*`) still fires, though one
    statement writes both (adapters/failpoints.py, adapters/sql/written.py)."""
    merchant_id = await add_merchant(uow_factory, ids)
    _, attempt = await _with_attempt(uow_factory, ids, merchant_id)
    passed: list[str] = []
    monkeypatch.setattr(unit_of_work, "ARMED", True)
    monkeypatch.setattr(unit_of_work, "fail_point", passed.append)
    async with uow_factory() as uow:
        pair = await uow.payment_attempts.locked_with_intent(merchant_id, attempt.id)
        assert pair is not None
        loaded, fresh = pair
        _authorize(loaded, fresh)
        await uow.payment_attempts.update_with_intent(fresh, loaded, loaded.pull_events())
        await uow.commit()
        refund = new_refund(ids, fresh)
        loaded.description = "with a refund"
        await uow.refunds.add_with_intent(refund, loaded)
        await uow.commit()
    assert passed == [
        "sql.commit.before:payment_attempts+payment_events+payment_intents",
        "sql.commit.after:payment_attempts+payment_events+payment_intents",
        "sql.commit.before:payment_intents+refunds",
        "sql.commit.after:payment_intents+refunds",
    ]
    assert fnmatch.fnmatchcase(passed[0], "sql.commit.before:*payment_attempts*")
    assert fnmatch.fnmatchcase(passed[1], "sql.commit.after:*payment_attempts*")
    assert fnmatch.fnmatchcase(passed[3], "sql.commit.after:*refunds*")
    assert all(fnmatch.fnmatchcase(name, "*:*payment_intents*") for name in passed)
