"""The payments repositories added for attempts and refunds: PostgreSQL and the fakes agree.

Claims pick rows of every merchant (they are for background workers), so the claim tests
date their rows in an era of their own (1970s/1980s) that no other test writes in: on the
shared session database, a claim then only ever sees the rows of the test that made them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.system import RandomIds
from core.payments.model import (
    AttemptStatus,
    EventKind,
    NextAction,
    PaymentError,
    PaymentEvent,
    PaymentIntent,
    PaymentMethodDetails,
    PaymentPolicy,
    RefundStatus,
    Status,
)
from core.shared.errors import AlreadyExists, Conflict
from core.unit_of_work import UnitOfWorkFactory
from tests.contract.helpers import (
    T0,
    add_attempt,
    add_intent,
    add_merchant,
    later,
    new_attempt,
    new_intent,
    new_refund,
)


def era(year: int) -> datetime:
    return datetime(year, 6, 1, 8, 0, 0, 654321, tzinfo=UTC)


# --- intents: the new fields and the batch methods --------------------------------------


async def test_new_intent_fields_round_trip(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = await add_intent(
        any_uow_factory,
        ids,
        merchant_id,
        latest_attempt="pa_x",
        attempts=3,
        failed_attempts=2,
        capture_before=later(7 * 86400),
        success_url="https://shop.example/thanks?order=1",
        cancel_url="https://shop.example/cart",
    )
    async with any_uow_factory() as uow:
        assert await uow.payment_intents.get(merchant_id, intent.id) == intent
        # The hosted checkout page knows the intent, not its merchant.
        assert await uow.payment_intents.by_id(intent.id) == intent
        assert await uow.payment_intents.by_id(ids.new("pi")) is None


async def test_update_many_saves_and_bumps_every_version(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intents = [await add_intent(any_uow_factory, ids, merchant_id) for _ in range(3)]
    async with any_uow_factory() as uow:
        loaded = [
            await uow.payment_intents.get(merchant_id, i.id, for_update=True) for i in intents
        ]
        for intent in loaded:
            assert intent is not None
            intent.transition(Status.CANCELED, actor="system", at=later(1))
            intent.cancellation_reason = "EXPIRED"
            intent.canceled_at = later(1)
        await uow.payment_intents.update_many([i for i in loaded if i is not None])
        await uow.payment_intents.update_many([])
        await uow.commit()
    async with any_uow_factory() as uow:
        for before, saved in zip(intents, loaded, strict=True):
            stored = await uow.payment_intents.get(merchant_id, before.id)
            assert stored == saved
            assert stored is not None and stored.version == 2
            assert (stored.status, stored.cancellation_reason) == (Status.CANCELED, "EXPIRED")


async def test_claim_unconfirmed_picks_old_waiting_intents_oldest_first(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    base = era(1971)
    other_merchant = await add_merchant(any_uow_factory, ids)
    oldest = await add_intent(any_uow_factory, ids, other_merchant, created=base)
    old = await add_intent(
        any_uow_factory,
        ids,
        merchant_id,
        created=base + timedelta(minutes=1),
        status=Status.REQUIRES_CONFIRMATION,
    )
    await add_intent(
        any_uow_factory, ids, merchant_id, created=base, status=Status.PROCESSING
    )  # not waiting
    await add_intent(any_uow_factory, ids, merchant_id, created=base + timedelta(hours=2))  # young
    cutoff = base + timedelta(hours=1)
    async with any_uow_factory() as uow:
        first = await uow.payment_intents.claim_unconfirmed(cutoff, limit=1)
        both = await uow.payment_intents.claim_unconfirmed(cutoff, limit=10)
    assert [i.id for i in first] == [oldest.id]
    assert [i.id for i in both] == [oldest.id, old.id]
    assert both[1] == old


async def test_claim_capture_expired_picks_authorizations_past_their_deadline(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    base = era(1973)
    due = await add_intent(
        any_uow_factory,
        ids,
        merchant_id,
        status=Status.REQUIRES_CAPTURE,
        amount_capturable=2000,
        capture_before=base,
    )
    await add_intent(
        any_uow_factory,
        ids,
        merchant_id,
        status=Status.REQUIRES_CAPTURE,
        amount_capturable=2000,
        capture_before=base + timedelta(days=1),
    )
    await add_intent(
        any_uow_factory,
        ids,
        merchant_id,
        status=Status.SUCCEEDED,
        amount_received=2000,
        capture_before=base - timedelta(days=1),
    )
    async with any_uow_factory() as uow:
        claimed = await uow.payment_intents.claim_capture_expired(base, limit=10)
    assert [i.id for i in claimed] == [due.id]


# --- events -----------------------------------------------------------------------------


async def test_event_kind_object_and_amount_round_trip(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    events = [
        PaymentEvent(
            intent.id,
            merchant_id,
            Status.SUCCEEDED,
            Status.SUCCEEDED,
            "key_a",
            later(1),
            kind=EventKind.REFUND_PENDING,
            object_id="re_1",
            amount=700,
        ),
        PaymentEvent(
            intent.id,
            merchant_id,
            Status.PROCESSING,
            Status.SUCCEEDED,
            "system",
            later(2),
            object_id="pa_1",
            amount=2000,
        ),
    ]
    async with any_uow_factory() as uow:
        await uow.payment_events.append(events)
        await uow.commit()
    async with any_uow_factory() as uow:
        history = await uow.payment_events.for_intent(merchant_id, intent.id)
    assert list(history[1:]) == events
    assert history[0].kind is EventKind.STATUS_CHANGED and history[0].amount is None


async def test_an_intent_is_written_with_its_history_lines_or_neither(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = new_intent(ids, merchant_id)
    created = intent.pull_events()
    async with any_uow_factory() as uow:
        await uow.payment_intents.add(intent, created)
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.payment_intents.get(merchant_id, intent.id) == intent
        assert list(await uow.payment_events.for_intent(merchant_id, intent.id)) == created
    # Refused by the commit at the latest: a store may hold the write back until then.
    with pytest.raises(AlreadyExists):
        async with any_uow_factory() as uow:
            await uow.payment_intents.add(intent, created)
            await uow.commit()
    async with any_uow_factory() as uow:
        assert list(await uow.payment_events.for_intent(merchant_id, intent.id)) == created

    async with any_uow_factory() as uow:
        loaded = await uow.payment_intents.get(merchant_id, intent.id, for_update=True)
        assert loaded is not None
        loaded.transition(Status.PROCESSING, actor="key_a", at=later(1), object_id="pa_1")
        loaded.transition(Status.SUCCEEDED, actor="system", at=later(2), object_id="pa_1")
        changed = loaded.pull_events()
        assert len(changed) == 2
        await uow.payment_intents.update(loaded, changed)
        assert loaded.version == 2
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.payment_intents.get(merchant_id, intent.id) == loaded
        # In the order given, after the create's line.
        history = list(await uow.payment_events.for_intent(merchant_id, intent.id))
        assert history == created + changed

    # A stale version: a conflict, and none of the change's lines is written.
    intent.transition(Status.CANCELED, actor="key_a", at=later(3))
    async with any_uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.payment_intents.update(intent, intent.pull_events())
        await uow.commit()
    # Undone with the transaction that made it.
    again = await uow_get(any_uow_factory, merchant_id, intent.id)
    again.description = "never saved"
    line = PaymentEvent(
        intent.id, merchant_id, Status.SUCCEEDED, Status.SUCCEEDED, "key_a", later(4),
        kind=EventKind.REFUND_PENDING, object_id="re_1", amount=700,
    )  # fmt: skip
    async with any_uow_factory() as uow:
        await uow.payment_intents.update(again, [line])
    async with any_uow_factory() as uow:
        assert await uow.payment_intents.get(merchant_id, intent.id) == loaded
        assert list(await uow.payment_events.for_intent(merchant_id, intent.id)) == history


async def uow_get(
    uow_factory: UnitOfWorkFactory, merchant_id: str, intent_id: str
) -> PaymentIntent:
    async with uow_factory() as uow:
        intent = await uow.payment_intents.get(merchant_id, intent_id)
    assert intent is not None
    return intent


# --- attempts ---------------------------------------------------------------------------


async def test_an_attempt_reads_back_field_for_field(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    attempt = new_attempt(
        ids,
        intent,
        status=AttemptStatus.CAPTURE_PENDING,
        payment_method="tok_abc",
        card_brand="visa",
        card_last4="4242",
        card_fingerprint="f1ng3rpr1nt",
        acquirer_reference="simnet_1",
        acquirer_code="00",
        authorization_code="123456",
        error=PaymentError("CAPTURE_FAILED", "generic_decline", "Nope — ünïcode"),
        next_action=NextAction("REDIRECT_TO_URL", "https://pay.example/3ds/pa_1"),
        amount_authorized=2000,
        amount_captured=0,
        amount_to_capture=1500,
        capture_reference="pa_1_capture_1",
        captures=1,
        authorized_at=later(3),
        updated_at=later(4),
    )
    async with any_uow_factory() as uow:
        await uow.payment_attempts.add(attempt)
        await uow.commit()
    async with any_uow_factory() as uow:
        stored = await uow.payment_attempts.get(attempt.id)
        locked = await uow.payment_attempts.get(attempt.id, for_update=True)
        missing = await uow.payment_attempts.get(ids.new("pa"))
    assert stored == attempt and locked == attempt and stored is not attempt
    assert missing is None


@pytest.mark.parametrize(
    "details",
    [
        PaymentMethodDetails("wallet", wallet_provider="paytm"),
        PaymentMethodDetails("netbanking", netbanking_bank="HDFC"),
    ],
)
async def test_the_wallet_or_bank_of_an_attempt_and_its_intent_round_trip(
    any_uow_factory: UnitOfWorkFactory,
    ids: RandomIds,
    merchant_id: str,
    details: PaymentMethodDetails,
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id, currency="INR")
    attempt = new_attempt(
        ids,
        intent,
        payment_method_type=details.type,
        acquirer=details.type,
        wallet_provider=details.wallet_provider,
        netbanking_bank=details.netbanking_bank,
        status=AttemptStatus.REQUIRES_ACTION,
    )
    async with any_uow_factory() as uow:
        stored = await uow.payment_intents.get(merchant_id, intent.id, for_update=True)
        assert stored is not None and stored.payment_method_details is None
        stored.begin_attempt(attempt, policy=PaymentPolicy(), actor="key_contract", at=later(1))
        await uow.payment_attempts.add(attempt)
        await uow.payment_intents.update(stored)
        await uow.commit()
    async with any_uow_factory() as uow:
        read = await uow.payment_attempts.get(attempt.id)
        pair = await uow.payment_attempts.locked_with_intent(merchant_id, attempt.id)
        again = await uow.payment_intents.get(merchant_id, intent.id)
    assert read == attempt and read.method_details == details
    assert pair is not None and pair[1] == attempt
    assert again == stored and again.payment_method_details == details
    assert pair[0] == again
    # A card attempt of the same intent holds neither.
    assert new_attempt(ids, intent).method_details == PaymentMethodDetails("card")


async def test_one_attempt_per_intent_that_is_not_failed(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    for _ in range(2):
        await add_attempt(any_uow_factory, ids, intent, status=AttemptStatus.FAILED)
    live = await add_attempt(any_uow_factory, ids, intent)
    async with any_uow_factory() as uow:
        with pytest.raises(Conflict) as raised:
            await uow.payment_attempts.add(new_attempt(ids, intent))
    assert raised.value.reason == "ATTEMPT_IN_PROGRESS"
    async with any_uow_factory() as uow:
        with pytest.raises(AlreadyExists):
            await uow.payment_attempts.add(new_attempt(ids, intent, id=live.id))
    async with any_uow_factory() as uow:
        attempts = await uow.payment_attempts.for_intent(merchant_id, intent.id)
    assert [a.status for a in attempts] == [AttemptStatus.FAILED] * 2 + [AttemptStatus.PROCESSING]
    assert attempts[-1] == live


async def test_attempts_by_intent_and_in_batches_are_scoped(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    failed = await add_attempt(any_uow_factory, ids, intent, status=AttemptStatus.FAILED)
    live = await add_attempt(any_uow_factory, ids, intent)
    other = await add_merchant(any_uow_factory, ids)
    async with any_uow_factory() as uow:
        assert await uow.payment_attempts.for_intent(other, intent.id) == []
        batch = await uow.payment_attempts.get_many(
            [live.id, ids.new("pa"), failed.id], for_update=True
        )
        assert await uow.payment_attempts.get_many([]) == []
    assert sorted(batch, key=lambda a: a.id) == [failed, live]


async def test_an_attempt_is_locked_with_its_intent_in_one_read(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    attempt = await add_attempt(any_uow_factory, ids, intent)
    other = await add_merchant(any_uow_factory, ids)
    async with any_uow_factory() as uow:
        pair = await uow.payment_attempts.locked_with_intent(merchant_id, attempt.id)
        stored = await uow.payment_intents.get(merchant_id, intent.id)
        assert await uow.payment_attempts.locked_with_intent(other, attempt.id) is None
        assert await uow.payment_attempts.locked_with_intent(merchant_id, ids.new("pa")) is None
    assert pair == (stored, attempt)


async def test_attempt_updates_are_optimistic(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    attempt = await add_attempt(any_uow_factory, ids, intent)
    async with any_uow_factory() as uow:
        loaded = await uow.payment_attempts.get(attempt.id, for_update=True)
        assert loaded is not None
        loaded.authorize(intent.amount, later(5), automatic=False)
        loaded.acquirer_reference = "simnet_9"
        await uow.payment_attempts.update(loaded)
        assert loaded.version == 2
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.payment_attempts.get(attempt.id) == loaded
        with pytest.raises(Conflict):
            await uow.payment_attempts.update(attempt)  # still version 1

    async with any_uow_factory() as uow:
        loaded.move(AttemptStatus.VOID_PENDING, later(6))
        await uow.payment_attempts.update_many([loaded])
        await uow.commit()
    async with any_uow_factory() as uow:
        stored = await uow.payment_attempts.get(attempt.id)
    assert stored == loaded and loaded.version == 3


async def test_claim_in_flight_leases_old_in_flight_attempts(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    base = era(1975)
    stuck = []
    for status in (
        AttemptStatus.PROCESSING,
        AttemptStatus.CAPTURE_PENDING,
        AttemptStatus.VOID_PENDING,
    ):
        intent = await add_intent(any_uow_factory, ids, merchant_id)
        stuck.append(
            await add_attempt(any_uow_factory, ids, intent, status=status, updated_at=base)
        )
    for status in (AttemptStatus.REQUIRES_ACTION, AttemptStatus.AUTHORIZED, AttemptStatus.FAILED):
        intent = await add_intent(any_uow_factory, ids, merchant_id)
        await add_attempt(any_uow_factory, ids, intent, status=status, updated_at=base)
    fresh_intent = await add_intent(any_uow_factory, ids, merchant_id)
    await add_attempt(any_uow_factory, ids, fresh_intent, updated_at=base + timedelta(hours=1))

    cutoff, now = base + timedelta(minutes=5), base + timedelta(minutes=10)
    async with any_uow_factory() as uow:
        first = await uow.payment_attempts.claim_in_flight(cutoff, now, limit=2)
        rest = await uow.payment_attempts.claim_in_flight(cutoff, now, limit=10)
        await uow.commit()
    assert len(first) == 2
    claimed = sorted([*first, *rest], key=lambda a: a.id)
    assert [a.id for a in claimed] == [a.id for a in stuck]
    assert all(a.updated_at == now and a.version == 2 for a in claimed)
    async with any_uow_factory() as uow:
        assert await uow.payment_attempts.claim_in_flight(cutoff, now, limit=10) == []
        assert await uow.payment_attempts.get(stuck[0].id) == claimed[0]


async def test_claim_awaiting_action_leases_old_pending_actions_of_one_type(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    base = era(1979)
    waiting = []
    for _ in range(3):
        intent = await add_intent(any_uow_factory, ids, merchant_id)
        waiting.append(
            await add_attempt(
                any_uow_factory,
                ids,
                intent,
                status=AttemptStatus.REQUIRES_ACTION,
                payment_method_type="upi",
                updated_at=base,
            )
        )
    not_due = [
        {"status": AttemptStatus.REQUIRES_ACTION, "payment_method_type": "card"},  # 3DS
        {"status": AttemptStatus.PROCESSING, "payment_method_type": "upi"},
        {"status": AttemptStatus.AUTHORIZED, "payment_method_type": "upi"},
        {"status": AttemptStatus.FAILED, "payment_method_type": "upi"},
    ]
    for fields in not_due:
        intent = await add_intent(any_uow_factory, ids, merchant_id)
        await add_attempt(any_uow_factory, ids, intent, updated_at=base, **fields)
    young = await add_intent(any_uow_factory, ids, merchant_id)
    await add_attempt(
        any_uow_factory,
        ids,
        young,
        status=AttemptStatus.REQUIRES_ACTION,
        payment_method_type="upi",
        updated_at=base + timedelta(minutes=1),
    )

    cutoff, now = base + timedelta(seconds=5), base + timedelta(seconds=10)
    claim = ("upi",), cutoff, now
    async with any_uow_factory() as uow:
        first = await uow.payment_attempts.claim_awaiting_action(*claim, limit=2)
        rest = await uow.payment_attempts.claim_awaiting_action(*claim, limit=10)
        await uow.commit()
    assert len(first) == 2
    claimed = sorted([*first, *rest], key=lambda a: a.id)
    assert [a.id for a in claimed] == [a.id for a in waiting]
    assert all(a.updated_at == now and a.version == 2 for a in claimed)
    assert all(a.status is AttemptStatus.REQUIRES_ACTION for a in claimed)
    async with any_uow_factory() as uow:
        # Leased: not claimable again until the cutoff passes `now`.
        assert await uow.payment_attempts.claim_awaiting_action(*claim, limit=10) == []
        assert await uow.payment_attempts.get(waiting[0].id) == claimed[0]
        later_claim = await uow.payment_attempts.claim_awaiting_action(
            ("upi",), now + timedelta(seconds=1), now, limit=10
        )
    assert sorted(a.id for a in later_claim) == sorted([a.id for a in waiting])


async def test_claim_awaiting_action_skips_rows_another_worker_holds(
    uow_factory: UnitOfWorkFactory, ids: RandomIds
) -> None:
    """PostgreSQL: two pollers at once never take the same attempt (SKIP LOCKED)."""
    merchant_id = await add_merchant(uow_factory, ids)
    base = era(1981)
    made = set()
    for _ in range(4):
        intent = await add_intent(uow_factory, ids, merchant_id)
        attempt = await add_attempt(
            uow_factory,
            ids,
            intent,
            status=AttemptStatus.REQUIRES_ACTION,
            payment_method_type="upi",
            updated_at=base,
        )
        made.add(attempt.id)
    # Rows of earlier eras (other tests) may be claimed too: only ours are asserted on.
    claim = ("upi",), base + timedelta(seconds=5), base + timedelta(seconds=10)
    async with uow_factory() as first, uow_factory() as second:
        mine = {a.id for a in await first.payment_attempts.claim_awaiting_action(*claim, limit=2)}
        theirs = {
            a.id for a in await second.payment_attempts.claim_awaiting_action(*claim, limit=100)
        }
        assert len(mine) == 2 and not mine & theirs
        assert made <= mine | theirs


async def test_claim_awaiting_action_takes_every_type_asked_for_in_one_claim(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    """The worker's one poller: UPI, wallet and net banking attempts in one claim, oldest
    first; a card's challenge (the cardholder's, never polled) stays."""
    base = era(1983)
    made = {}
    for seconds, method in enumerate(("netbanking", "card", "upi", "wallet")):
        intent = await add_intent(any_uow_factory, ids, merchant_id)
        attempt = await add_attempt(
            any_uow_factory,
            ids,
            intent,
            status=AttemptStatus.REQUIRES_ACTION,
            payment_method_type=method,
            updated_at=base + timedelta(seconds=seconds),
        )
        made[attempt.id] = method
    cutoff, now = base + timedelta(seconds=10), base + timedelta(seconds=20)
    async with any_uow_factory() as uow:
        claimed = await uow.payment_attempts.claim_awaiting_action(
            ("upi", "wallet", "netbanking"), cutoff, now, limit=1000
        )
        await uow.commit()
    # Rows of earlier eras (other tests) are claimed too: only ours are asserted on.
    ours = sorted((a for a in claimed if a.id in made), key=lambda a: a.updated_at)
    assert sorted(made[a.id] for a in ours) == ["netbanking", "upi", "wallet"]
    assert all(a.updated_at == now and a.version == 2 for a in ours)
    async with any_uow_factory() as uow:
        again = await uow.payment_attempts.claim_awaiting_action(
            ("upi", "wallet", "netbanking", "card"), cutoff, now, limit=1000
        )
    assert [made[a.id] for a in again if a.id in made] == ["card"]


# --- refunds ----------------------------------------------------------------------------


async def test_refunds_round_trip_list_and_scope(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    attempt = await add_attempt(any_uow_factory, ids, intent)
    other_intent = await add_intent(any_uow_factory, ids, merchant_id)
    other_attempt = await add_attempt(any_uow_factory, ids, other_intent)
    made = [
        new_refund(ids, attempt, amount=100, reason="duplicate"),
        new_refund(ids, other_attempt, amount=200),
        new_refund(
            ids,
            attempt,
            amount=300,
            status=RefundStatus.FAILED,
            failure_code="generic_decline",
            acquirer_reference="simnet_ref_1",
        ),
    ]
    async with any_uow_factory() as uow:
        for refund in made:
            await uow.refunds.add(refund)
        await uow.commit()
    other = await add_merchant(any_uow_factory, ids)
    async with any_uow_factory() as uow:
        refunds = uow.refunds
        assert await refunds.get(merchant_id, made[2].id) == made[2]
        assert await refunds.get(merchant_id, made[0].id, for_update=True) == made[0]
        assert await refunds.get(other, made[0].id) is None
        everything = await refunds.list(merchant_id, limit=10)
        page = await refunds.list(merchant_id, limit=1, starting_after=made[2].id)
        of_intent = await refunds.list(merchant_id, limit=10, payment_intent_id=intent.id)
        assert await refunds.list(other, limit=10) == []
        with pytest.raises(AlreadyExists):
            await refunds.add(made[0])
    assert everything == made[::-1]
    assert page == [made[1]]
    assert of_intent == [made[2], made[0]]


async def test_refund_updates_are_optimistic(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    attempt = await add_attempt(any_uow_factory, ids, intent)
    refund = new_refund(ids, attempt)
    async with any_uow_factory() as uow:
        await uow.refunds.add(refund)
        await uow.commit()
    async with any_uow_factory() as uow:
        loaded = await uow.refunds.get(merchant_id, refund.id, for_update=True)
        assert loaded is not None
        loaded.settle(RefundStatus.SUCCEEDED, later(9), acquirer_reference="simnet_ref_2")
        await uow.refunds.update(loaded)
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.refunds.get(merchant_id, refund.id) == loaded
        with pytest.raises(Conflict):
            await uow.refunds.update(refund)
    assert loaded.version == 2


async def test_claim_pending_leases_old_pending_refunds(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    base = era(1977)
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    attempt = await add_attempt(any_uow_factory, ids, intent)
    stuck = new_refund(ids, attempt, at=base)
    done = new_refund(ids, attempt, at=base, status=RefundStatus.SUCCEEDED)
    young = new_refund(ids, attempt, at=base + timedelta(hours=1))
    async with any_uow_factory() as uow:
        for refund in (stuck, done, young):
            await uow.refunds.add(refund)
        await uow.commit()
    cutoff, now = base + timedelta(minutes=5), base + timedelta(minutes=6)
    async with any_uow_factory() as uow:
        claimed = await uow.refunds.claim_pending(cutoff, now, limit=10)
        again = await uow.refunds.claim_pending(cutoff, now, limit=10)
        await uow.commit()
    assert [r.id for r in claimed] == [stuck.id]
    assert (claimed[0].updated_at, claimed[0].version) == (now, 2)
    assert again == []


def test_t0_is_not_in_a_claim_era() -> None:
    assert T0.year > 2000
