"""PaymentIntentRepository and PaymentEventLog: PostgreSQL and the in-memory fake agree."""

from __future__ import annotations

import pytest

from adapters.system import RandomIds
from core.payments.model import NextAction, PaymentError, PaymentEvent, Status
from core.shared.errors import Conflict
from core.unit_of_work import UnitOfWorkFactory
from tests.contract.helpers import add_intent, add_merchant, later, new_intent


async def test_an_added_intent_reads_back_field_for_field(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = new_intent(
        ids,
        merchant_id,
        amount=123_456_789_01,
        payment_method_types=("card", "upi"),
        description="Order #1042 — 2 x café crème",
        metadata={"order_id": "1042", "note": "ünïcode ✓", "empty": ""},
        receipt_email="buyer@example.com",
        return_url="https://shop.example/return?o=1042",
        amount_capturable=5,
        payment_method="pm_test",
        last_payment_error=PaymentError("card_declined", "insufficient_funds", "Declined"),
        next_action=NextAction("REDIRECT_TO_URL", "https://acs.example/3ds", "qr"),
        attempts=2,
        canceled_at=later(5),
        cancellation_reason="abandoned",
    )
    async with any_uow_factory() as uow:
        await uow.payment_intents.add(intent)
        await uow.commit()

    async with any_uow_factory() as uow:
        stored = await uow.payment_intents.get(merchant_id, intent.id)

    assert stored == intent
    assert stored is not intent
    assert stored.events == []


async def test_a_fresh_intent_keeps_its_defaults(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    async with any_uow_factory() as uow:
        stored = await uow.payment_intents.get(merchant_id, intent.id)
    assert stored == intent
    assert stored is not None
    assert (stored.version, stored.last_payment_error, stored.next_action) == (1, None, None)
    assert stored.payment_method_types == ("card",)


async def test_get_is_scoped_to_the_merchant(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    other_merchant = await add_merchant(any_uow_factory, ids)
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    async with any_uow_factory() as uow:
        assert await uow.payment_intents.get(other_merchant, intent.id) is None
        assert await uow.payment_intents.get(other_merchant, intent.id, for_update=True) is None
        assert await uow.payment_intents.get(merchant_id, ids.new("pi")) is None
        assert await uow.payment_intents.get(merchant_id, intent.id, for_update=True) == intent


async def test_list_pages_newest_first_by_id(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    created = [(await add_intent(any_uow_factory, ids, merchant_id)).id for _ in range(5)]
    newest_first = created[::-1]
    # Another merchant's intents never show up, whatever their ids.
    other = await add_merchant(any_uow_factory, ids)
    await add_intent(any_uow_factory, ids, other)

    async with any_uow_factory() as uow:
        intents = uow.payment_intents
        first = await intents.list(merchant_id, limit=2)
        second = await intents.list(merchant_id, limit=2, starting_after=first[-1].id)
        third = await intents.list(merchant_id, limit=2, starting_after=second[-1].id)
        everything = await intents.list(merchant_id, limit=100)
        after_oldest = await intents.list(merchant_id, limit=10, starting_after=created[0])

    assert [i.id for i in first] == newest_first[0:2]
    assert [i.id for i in second] == newest_first[2:4]
    assert [i.id for i in third] == newest_first[4:5]
    assert [i.id for i in everything] == newest_first
    assert after_oldest == []


async def test_list_filters_by_status(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intents = [await add_intent(any_uow_factory, ids, merchant_id) for _ in range(4)]
    async with any_uow_factory() as uow:
        for intent in intents[1::2]:
            intent.transition(Status.CANCELED, actor="key_contract", at=later(1))
            await uow.payment_intents.update(intent)
        await uow.commit()

    async with any_uow_factory() as uow:
        canceled = await uow.payment_intents.list(merchant_id, limit=10, status=Status.CANCELED)
        waiting = await uow.payment_intents.list(
            merchant_id, limit=1, status=Status.REQUIRES_PAYMENT_METHOD
        )
        page_two = await uow.payment_intents.list(
            merchant_id, limit=10, status=Status.CANCELED, starting_after=canceled[0].id
        )
        none = await uow.payment_intents.list(merchant_id, limit=10, status=Status.SUCCEEDED)

    assert [i.id for i in canceled] == [intents[3].id, intents[1].id]
    assert all(i.status is Status.CANCELED for i in canceled)
    assert [i.id for i in waiting] == [intents[2].id]
    assert [i.id for i in page_two] == [intents[1].id]
    assert none == []


async def test_update_saves_every_change_and_bumps_the_version(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    async with any_uow_factory() as uow:
        loaded = await uow.payment_intents.get(merchant_id, intent.id, for_update=True)
        assert loaded is not None
        loaded.transition(Status.PROCESSING, actor="key_contract", at=later(1))
        loaded.transition(Status.REQUIRES_CAPTURE, actor="key_contract", at=later(2))
        loaded.amount_capturable = loaded.amount
        loaded.payment_method = "pm_visa"
        loaded.attempts = 1
        loaded.metadata = {"step": "authorized"}
        loaded.next_action = NextAction("UPI_COLLECT", "upi://pay?pa=x", "qr-data")
        await uow.payment_intents.update(loaded)
        assert loaded.version == 2
        await uow.commit()

    async with any_uow_factory() as uow:
        stored = await uow.payment_intents.get(merchant_id, intent.id)
    assert stored == loaded
    assert stored is not None and stored.version == 2


async def test_a_stale_update_is_a_conflict_and_changes_nothing(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    async with any_uow_factory() as uow:
        fresh = await uow.payment_intents.get(merchant_id, intent.id)
        assert fresh is not None
        fresh.description = "first writer"
        await uow.payment_intents.update(fresh)
        await uow.commit()

    intent.description = "second writer, still at version 1"
    async with any_uow_factory() as uow:
        with pytest.raises(Conflict) as raised:
            await uow.payment_intents.update(intent)
    assert raised.value.reason == "CONCURRENT_UPDATE"
    assert intent.version == 1

    async with any_uow_factory() as uow:
        stored = await uow.payment_intents.get(merchant_id, intent.id)
    assert stored is not None
    assert (stored.description, stored.version) == ("first writer", 2)


async def test_leaving_without_commit_rolls_back(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    kept = new_intent(ids, merchant_id)
    dropped = new_intent(ids, merchant_id)
    failed = new_intent(ids, merchant_id)
    async with any_uow_factory() as uow:
        await uow.payment_intents.add(kept)
        await uow.commit()
        # Work after a commit belongs to the next transaction, which is never committed.
        await uow.payment_intents.add(dropped)

    with pytest.raises(RuntimeError, match="boom"):
        async with any_uow_factory() as uow:
            await uow.payment_intents.add(failed)
            await uow.payment_events.append(failed.pull_events())
            raise RuntimeError("boom")

    async with any_uow_factory() as uow:
        assert await uow.payment_intents.get(merchant_id, kept.id) == kept
        assert await uow.payment_intents.get(merchant_id, dropped.id) is None
        assert await uow.payment_intents.get(merchant_id, failed.id) is None
        assert await uow.payment_events.for_intent(merchant_id, failed.id) == []


async def test_events_read_back_oldest_first_and_scoped(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = new_intent(ids, merchant_id)
    intent.transition(Status.PROCESSING, actor="key_a", at=later(1))
    intent.transition(Status.SUCCEEDED, actor="system", at=later(2))
    events = intent.pull_events()
    async with any_uow_factory() as uow:
        await uow.payment_intents.add(intent)
        await uow.payment_events.append(events[:1])
        await uow.payment_events.append(events[1:])
        await uow.payment_events.append([])
        await uow.commit()

    other = await add_merchant(any_uow_factory, ids)
    async with any_uow_factory() as uow:
        history = await uow.payment_events.for_intent(merchant_id, intent.id)
        assert await uow.payment_events.for_intent(other, intent.id) == []

    assert list(history) == events
    assert history[0] == PaymentEvent(
        intent.id, merchant_id, None, Status.REQUIRES_PAYMENT_METHOD, "key_contract", intent.created
    )
    assert [(e.from_status, e.to_status) for e in history] == [
        (None, Status.REQUIRES_PAYMENT_METHOD),
        (Status.REQUIRES_PAYMENT_METHOD, Status.PROCESSING),
        (Status.PROCESSING, Status.SUCCEEDED),
    ]
