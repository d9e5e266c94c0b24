"""Events for internal consumers: the relay appends to a Redis Stream that consumer groups
read at least once, bounded in length (adapters/redis/event_stream.py)."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

from redis.asyncio import Redis

from adapters.redis.event_stream import RedisEventStream
from adapters.system import RandomIds, SystemClock
from core.events.maintenance import EventMaintenance
from core.events.model import Event
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory


def event(ids: RandomIds, n: int) -> Event:
    return Event(
        id=ids.new("evt"),
        merchant_id="acct_x",
        type="payment_intent.succeeded",
        created=datetime.now(UTC),
        livemode=False,
        data={"id": f"pi_{n}", "amount": "100"},
    )


async def test_a_consumer_group_reads_every_event_once_acked(
    redis_url: str, ids: RandomIds
) -> None:
    name = f"paygate:test:events:{secrets.token_hex(4)}"
    stream = RedisEventStream(redis_url, stream=name, max_length=1000)
    client = Redis.from_url(redis_url)
    try:
        await client.xgroup_create(name, "billing", id="0", mkstream=True)
        made = [event(ids, n) for n in range(5)]
        await stream.append(made)
        read = await client.xreadgroup("billing", "c1", {name: ">"}, count=10)
        entries = read[0][1]
        assert [json.loads(f[b"event"])["id"] for _, f in entries] == [e.id for e in made]
        assert entries[0][1][b"type"] == b"payment_intent.succeeded"
        # Unacknowledged entries stay pending for the group: at least once.
        pending = await client.xpending(name, "billing")
        assert pending["pending"] == 5
        await client.xack(name, "billing", *[entry_id for entry_id, _ in entries])
        assert (await client.xpending(name, "billing"))["pending"] == 0
    finally:
        await client.delete(name)
        await client.aclose()
        await stream.aclose()


async def test_the_stream_is_bounded(redis_url: str, ids: RandomIds) -> None:
    name = f"paygate:test:events:{secrets.token_hex(4)}"
    stream = RedisEventStream(redis_url, stream=name, max_length=10)
    client = Redis.from_url(redis_url)
    try:
        for batch in range(10):
            await stream.append([event(ids, batch * 100 + n) for n in range(100)])
        # MAXLEN ~ trims whole nodes: about the bound, never the 1000 appended.
        assert await client.xlen(name) < 300
    finally:
        await client.delete(name)
        await client.aclose()
        await stream.aclose()


async def test_the_relay_appends_each_event_once_and_marks_it(
    redis_url: str, ids: RandomIds
) -> None:
    name = f"paygate:test:events:{secrets.token_hex(4)}"
    stream = RedisEventStream(redis_url, stream=name)
    uow = MemoryUnitOfWorkFactory()
    relay = EventMaintenance(uow, SystemClock(), stream=stream)
    client = Redis.from_url(redis_url)
    try:
        async with uow() as work:
            for n in range(3):
                await work.events.add(event(ids, n))
            await work.commit()
        assert await relay.relay_to_stream() == 3
        assert await relay.relay_to_stream() == 0
        assert await client.xlen(name) == 3
    finally:
        await client.delete(name)
        await client.aclose()
        await stream.aclose()
