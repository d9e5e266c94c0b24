"""The events ports (core/events/ports.py): the same cases on PostgreSQL and the fake."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from adapters.sql.unit_of_work import SqlUnitOfWork, SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.events.model import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    EventFilter,
    RequestRef,
    WebhookEndpoint,
)
from core.shared.secret import Secret
from core.unit_of_work import UnitOfWorkFactory
from tests.contract.helpers import add_merchant

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def endpoint(
    ids: RandomIds, merchant_id: str, *types: str, disabled: bool = False
) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=ids.new("we"),
        merchant_id=merchant_id,
        url="https://hooks.example.com/x",
        enabled_events=types or ("*",),
        livemode=False,
        secret=Secret("whsec_" + "QUJD" * 8),
        created=NOW,
        disabled=disabled,
    )


def event(
    ids: RandomIds, merchant_id: str, type: str = "payment_intent.created", at: datetime = NOW
) -> Event:
    return Event(
        id=ids.new("evt"),
        merchant_id=merchant_id,
        type=type,
        created=at,
        livemode=False,
        data={"id": "pi_x", "amount": "100", "nested": {"ok": True}},
        request=RequestRef("req_1", "key-1"),
    )


def delivery(ids: RandomIds, ev: Event, ep: WebhookEndpoint, due: datetime = NOW) -> Delivery:
    return Delivery(
        id=ids.new("whd"),
        event_id=ev.id,
        endpoint_id=ep.id,
        merchant_id=ev.merchant_id,
        status=DeliveryStatus.PENDING,
        created=ev.created,
        next_attempt_at=due,
    )


async def test_events_round_trip_filter_and_page(
    any_uow_factory: UnitOfWorkFactory, merchant_id: str, ids: RandomIds
) -> None:
    made = [
        event(ids, merchant_id, t, NOW + timedelta(seconds=i))
        for i, t in enumerate(
            ["payment_intent.created", "payment_intent.succeeded", "refund.created"]
        )
    ]
    async with any_uow_factory() as uow:
        for e in made:
            await uow.events.add(e)
        await uow.commit()
    async with any_uow_factory() as uow:
        got = await uow.events.get(merchant_id, made[0].id)
        assert got == made[0]
        assert await uow.events.get("acct_other", made[0].id) is None
        page = await uow.events.list(merchant_id, False, limit=2)
        assert [e.id for e in page] == [made[2].id, made[1].id]
        rest = await uow.events.list(merchant_id, False, limit=2, starting_after=made[1].id)
        assert [e.id for e in rest] == [made[0].id]
        typed = await uow.events.list(
            merchant_id, False, limit=10, where=EventFilter(types=("refund.created",))
        )
        assert [e.id for e in typed] == [made[2].id]
        ranged = await uow.events.list(
            merchant_id,
            False,
            limit=10,
            where=EventFilter(
                created_gte=NOW + timedelta(seconds=1), created_lte=NOW + timedelta(seconds=1)
            ),
        )
        assert [e.id for e in ranged] == [made[1].id]
        assert await uow.events.list(merchant_id, True, limit=10) == []
        since = await uow.events.created_since(
            merchant_id, False, NOW + timedelta(seconds=1), limit=10
        )
        assert [e.id for e in since] == [made[1].id, made[2].id]


async def test_an_event_rolled_back_with_its_change_is_not_there(
    any_uow_factory: UnitOfWorkFactory, merchant_id: str, ids: RandomIds
) -> None:
    lost = event(ids, merchant_id)
    async with any_uow_factory() as uow:
        await uow.events.add(lost)
        # no commit: the change failed, its event goes with it
    async with any_uow_factory() as uow:
        assert await uow.events.get(merchant_id, lost.id) is None


async def test_deliveries_subscriptions_and_the_delivery_filter(
    any_uow_factory: UnitOfWorkFactory, merchant_id: str, ids: RandomIds
) -> None:
    everything = endpoint(ids, merchant_id)
    refunds = endpoint(ids, merchant_id, "refund.created")
    off = endpoint(ids, merchant_id, disabled=True)
    ok, pending = event(ids, merchant_id), event(ids, merchant_id)
    async with any_uow_factory() as uow:
        for ep in (everything, refunds, off):
            await uow.webhook_endpoints.add(ep)
        for e in (ok, pending):
            await uow.events.add(e)
        subscribed = await uow.webhook_endpoints.subscribed(merchant_id, False, "refund.created")
        assert {e.id for e in subscribed} == {everything.id, refunds.id}
        assert [
            e.id for e in await uow.webhook_endpoints.subscribed(merchant_id, False, "payout.paid")
        ] == [everything.id]
        done = delivery(ids, ok, everything)
        done.status = DeliveryStatus.SUCCEEDED
        await uow.webhook_deliveries.add_many([done, delivery(ids, pending, everything)])
        await uow.commit()
    async with any_uow_factory() as uow:
        stored = await uow.webhook_endpoints.get(merchant_id, everything.id)
        assert stored is not None and stored.secret == everything.secret
        good = await uow.events.list(
            merchant_id, False, limit=10, where=EventFilter(delivery_success=True)
        )
        bad = await uow.events.list(
            merchant_id, False, limit=10, where=EventFilter(delivery_success=False)
        )
        assert [e.id for e in good] == [ok.id] and [e.id for e in bad] == [pending.id]


async def test_claims_lease_count_respect_the_cap_and_skip_disabled(
    any_uow_factory: UnitOfWorkFactory, merchant_id: str, ids: RandomIds
) -> None:
    busy, quiet, off = (
        endpoint(ids, merchant_id),
        endpoint(ids, merchant_id),
        endpoint(ids, merchant_id),
    )
    async with any_uow_factory() as uow:
        for ep in (busy, quiet, off):
            await uow.webhook_endpoints.add(ep)
        made = []
        for _ in range(5):
            e = event(ids, merchant_id)
            await uow.events.add(e)
            made += [delivery(ids, e, busy), delivery(ids, e, off)]
        e = event(ids, merchant_id)
        await uow.events.add(e)
        made.append(delivery(ids, e, quiet))
        made.append(delivery(ids, e, quiet, due=NOW + timedelta(hours=1)))  # not due
        await uow.webhook_deliveries.add_many(made)
        off.disabled = True
        await uow.webhook_endpoints.update(off)
        await uow.commit()
    lease = NOW + timedelta(seconds=30)
    async with any_uow_factory() as uow:
        claimed = await uow.webhook_deliveries.claim_due(NOW, lease, "t1", limit=10, per_endpoint=2)
        await uow.commit()
    by_endpoint = [c.endpoint.id for c in claimed]
    assert by_endpoint.count(busy.id) == 2 and by_endpoint.count(quiet.id) == 1
    assert off.id not in by_endpoint
    assert all(c.delivery.attempts == 1 and c.delivery.lease_token == "t1" for c in claimed)
    assert all(c.event.data["nested"] == {"ok": True} for c in claimed)
    async with any_uow_factory() as uow:
        # Leased ones count against the cap: nothing more for `busy` until they end.
        again = await uow.webhook_deliveries.claim_due(NOW, lease, "t2", limit=10, per_endpoint=2)
        assert again == []
        # After the lease, another worker takes them (a killed worker's claim expires).
        later = await uow.webhook_deliveries.claim_due(
            lease, lease + timedelta(seconds=30), "t3", limit=10, per_endpoint=2
        )
        assert {c.delivery.id for c in later} >= {
            c.delivery.id for c in claimed if c.endpoint.id == busy.id
        }
        assert all(
            c.delivery.attempts == 2
            for c in later
            if c.delivery.id in {x.delivery.id for x in claimed}
        )


async def test_attempts_log_and_requeue(
    any_uow_factory: UnitOfWorkFactory, merchant_id: str, ids: RandomIds
) -> None:
    ep, e = endpoint(ids, merchant_id), event(ids, merchant_id)
    failed = delivery(ids, e, ep)
    failed.status, failed.next_attempt_at = DeliveryStatus.FAILED, None
    attempt = DeliveryAttempt(
        id=ids.new("wha"),
        delivery_id=failed.id,
        event_id=e.id,
        endpoint_id=ep.id,
        merchant_id=merchant_id,
        attempted_at=NOW,
        request_headers={"webhook-id": e.id},
        status_code=500,
        response_body="nul\x00byte",
        latency_ms=12,
        error="",
    )
    async with any_uow_factory() as uow:
        await uow.webhook_endpoints.add(ep)
        await uow.events.add(e)
        await uow.webhook_deliveries.add_many([failed])
        await uow.webhook_deliveries.add_attempt(attempt)
        await uow.commit()
    async with any_uow_factory() as uow:
        (logged,) = await uow.webhook_deliveries.attempts(merchant_id, [failed.id])
        assert logged.status_code == 500 and logged.request_headers == {"webhook-id": e.id}
        assert await uow.webhook_deliveries.requeue_failed(merchant_id, ep.id, NOW, NOW) == 1
        back = await uow.webhook_deliveries.get(merchant_id, failed.id)
        assert back is not None and back.status is DeliveryStatus.PENDING
        assert [
            d.id for d in await uow.webhook_deliveries.list(merchant_id, event_id=e.id, limit=5)
        ] == [failed.id]
        assert await uow.webhook_endpoints.delete(merchant_id, ep.id)
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.webhook_deliveries.get(merchant_id, failed.id) is None


async def test_prune_and_stream_marks(
    any_uow_factory: UnitOfWorkFactory, merchant_id: str, ids: RandomIds
) -> None:
    old, new = event(ids, merchant_id, at=NOW - timedelta(days=40)), event(ids, merchant_id)
    async with any_uow_factory() as uow:
        await uow.events.add(old)
        await uow.events.add(new)
        await uow.commit()
    async with any_uow_factory() as uow:
        unstreamed = [e.id for e in await uow.events.claim_unstreamed(limit=1000)]
        assert old.id in unstreamed and new.id in unstreamed
        await uow.events.mark_streamed([old.id, new.id], NOW)
        assert await uow.events.prune(NOW - timedelta(days=30), limit=1000) >= 1
        await uow.commit()
    async with any_uow_factory() as uow:
        assert await uow.events.get(merchant_id, old.id) is None
        assert await uow.events.get(merchant_id, new.id) is not None
        assert new.id not in [e.id for e in await uow.events.claim_unstreamed(limit=1000)]


async def test_two_workers_claiming_at_once_never_take_the_same_delivery(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds
) -> None:
    merchant_id = await add_merchant(uow_factory, ids)
    ep = endpoint(ids, merchant_id)
    async with uow_factory() as uow:
        await uow.webhook_endpoints.add(ep)
        made = []
        for _ in range(40):
            e = event(ids, merchant_id)
            await uow.events.add(e)
            made.append(delivery(ids, e, ep))
        await uow.webhook_deliveries.add_many(made)
        await uow.commit()

    async def worker(token: str) -> list[str]:
        taken: list[str] = []
        for _ in range(25):
            async with uow_factory() as uow:
                got = await uow.webhook_deliveries.claim_due(
                    NOW, NOW + timedelta(minutes=1), token, limit=3, per_endpoint=1000
                )
                await asyncio.sleep(0.01)  # hold the row locks a moment
                await uow.commit()
            taken += [c.delivery.id for c in got]
        return taken

    a, b = await asyncio.gather(worker("a"), worker("b"))
    assert not set(a) & set(b)
    mine = {d.id for d in made}  # the database is shared: other tests' deliveries are due too
    assert mine <= set(a) | set(b)
    assert len([i for i in a + b if i in mine]) == len(mine)


async def test_the_webhook_secret_is_sealed_at_rest(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds
) -> None:
    merchant_id = await add_merchant(uow_factory, ids)
    ep = endpoint(ids, merchant_id)
    async with uow_factory() as uow:
        await uow.webhook_endpoints.add(ep)
        await uow.commit()
    async with uow_factory() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        row = (
            await uow.connection.execute(
                text(
                    "SELECT secret::text, row_to_json(w)::text"
                    " FROM webhook_endpoints w WHERE id = :id"
                ),
                {"id": ep.id},
            )
        ).one()
    assert "QUJD" not in row[1] and ep.secret.reveal().encode().hex() not in row[0]


pytestmark = pytest.mark.filterwarnings("error")
