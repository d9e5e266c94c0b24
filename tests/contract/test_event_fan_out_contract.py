"""An event and its deliveries written in one go (EventRepository.add_with_deliveries,
what the outbox calls): the same cases on PostgreSQL and the fake.

The outbox's promise (core/events/outbox.py): every endpoint subscribed when the event is
written gets a delivery in the event's own transaction. No process keeps a list of
endpoints, so an endpoint committed through one process gets the very next event that
another process writes, and a deleted or disabled one gets none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.events.model import DeliveryStatus, Event, FanOut
from core.events.outbox import EventOutbox
from core.unit_of_work import UnitOfWorkFactory
from tests.contract.helpers import add_merchant
from tests.contract.test_events_contract import NOW, endpoint, event

DUE = NOW + timedelta(seconds=7)


def fan_out(ids: RandomIds, exclude: str = "") -> FanOut:
    return FanOut(due=DUE, new_id=lambda: ids.new("whd"), exclude_endpoint=exclude)


async def deliveries_of(factory: UnitOfWorkFactory, merchant_id: str, event_id: str) -> Any:
    async with factory() as uow:
        return await uow.webhook_deliveries.list(merchant_id, event_id=event_id, limit=100)


async def test_only_the_endpoints_that_want_the_event_get_a_delivery(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds
) -> None:
    merchant_id = await add_merchant(any_uow_factory, ids)
    everything = endpoint(ids, merchant_id)
    created = endpoint(ids, merchant_id, "payment_intent.created", "refund.created")
    refunds = endpoint(ids, merchant_id, "refund.created")
    off = endpoint(ids, merchant_id, disabled=True)
    live = replace(endpoint(ids, merchant_id), livemode=True)
    excluded = endpoint(ids, merchant_id)
    ev = event(ids, merchant_id)
    async with any_uow_factory() as uow:
        for ep in (everything, created, refunds, off, live, excluded):
            await uow.webhook_endpoints.add(ep)
        await uow.events.add_with_deliveries(ev, fan_out(ids, exclude=excluded.id))
        await uow.commit()

    made = await deliveries_of(any_uow_factory, merchant_id, ev.id)
    assert sorted(d.endpoint_id for d in made) == sorted([everything.id, created.id])
    for d in made:
        assert d.id.startswith("whd_") and d.event_id == ev.id
        assert d.merchant_id == merchant_id and d.status is DeliveryStatus.PENDING
        assert d.created == NOW and d.next_attempt_at == DUE and d.attempts == 0
    async with any_uow_factory() as uow:
        stored = await uow.events.get(merchant_id, ev.id)
    assert stored == ev


async def test_every_subscribed_endpoint_gets_one_delivery_however_many_there_are(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds
) -> None:
    merchant_id = await add_merchant(any_uow_factory, ids)
    many = [endpoint(ids, merchant_id) for _ in range(7)]
    ev = event(ids, merchant_id, "refund.created")
    async with any_uow_factory() as uow:
        for ep in many:
            await uow.webhook_endpoints.add(ep)
        await uow.events.add_with_deliveries(ev, fan_out(ids))
        await uow.commit()

    made = await deliveries_of(any_uow_factory, merchant_id, ev.id)
    assert sorted(d.endpoint_id for d in made) == sorted(ep.id for ep in many)
    assert len({d.id for d in made}) == len(many)


async def test_an_event_rolled_back_leaves_no_delivery(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds
) -> None:
    merchant_id = await add_merchant(any_uow_factory, ids)
    ev = event(ids, merchant_id)
    async with any_uow_factory() as uow:
        await uow.webhook_endpoints.add(endpoint(ids, merchant_id))
        await uow.commit()
    async with any_uow_factory() as uow:  # left without commit: rolled back
        await uow.events.add_with_deliveries(ev, fan_out(ids))

    assert await deliveries_of(any_uow_factory, merchant_id, ev.id) == []
    async with any_uow_factory() as uow:
        assert await uow.events.get(merchant_id, ev.id) is None


class _AsIs:
    def render(self, obj: object) -> Mapping[str, Any]:
        return {"object": str(obj)}


@pytest.fixture
async def other_process(database_url: str) -> AsyncIterator[SqlUnitOfWorkFactory]:
    """A second process's units of work: an engine and pool of its own on the same
    database."""
    engine = create_engine(database_url, pool_size=2)
    try:
        yield SqlUnitOfWorkFactory(engine)
    finally:
        await engine.dispose()


async def test_an_endpoint_added_through_one_process_gets_the_next_event_of_another(
    uow_factory: SqlUnitOfWorkFactory, other_process: SqlUnitOfWorkFactory, ids: RandomIds
) -> None:
    merchant_id = await add_merchant(uow_factory, ids)
    outbox = EventOutbox(RandomIds(), _AsIs())

    async def publish() -> Event:
        async with other_process() as uow:
            ev = await outbox.publish(
                uow,
                merchant_id=merchant_id,
                type="payment_intent.succeeded",
                obj="pi_1",
                livemode=False,
                at=NOW,
            )
            await uow.commit()
        return ev

    # The other process has written events for this merchant before (nothing subscribed).
    assert await deliveries_of(uow_factory, merchant_id, (await publish()).id) == []

    first = endpoint(ids, merchant_id, "payment_intent.succeeded")
    async with uow_factory() as uow:
        await uow.webhook_endpoints.add(first)
        await uow.commit()
    made = await deliveries_of(uow_factory, merchant_id, (await publish()).id)
    assert [d.endpoint_id for d in made] == [first.id]

    second = endpoint(ids, merchant_id)
    async with uow_factory() as uow:
        await uow.webhook_endpoints.add(second)
        first.disabled = True
        await uow.webhook_endpoints.update(first)
        await uow.commit()
    made = await deliveries_of(uow_factory, merchant_id, (await publish()).id)
    assert [d.endpoint_id for d in made] == [second.id]

    async with uow_factory() as uow:
        assert await uow.webhook_endpoints.delete(merchant_id, second.id)
        await uow.commit()
    assert await deliveries_of(uow_factory, merchant_id, (await publish()).id) == []
