"""IntentWatch over the memory unit of work and its change feed: the intent now, each
change, and an end that always says why."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.model import Status
from core.payments.watch import IntentUpdate, IntentWatch, WatchEnd
from core.shared.errors import NotFound, Unavailable
from tests.unit.payments.conftest import (
    OTHER_MERCHANT,
    World,
    publishable_key,
    secret_key,
)


def watcher(world: World, max_seconds: float = 30.0) -> IntentWatch:
    return IntentWatch(world.intents, world.uow.store.changes, max_seconds=max_seconds)


async def next_update(updates: AsyncGenerator[IntentUpdate, None]) -> IntentUpdate:
    async with asyncio.timeout(5):
        return await anext(updates)


async def test_the_intent_now_then_each_change_then_the_terminal_end(world: World) -> None:
    intent = await world.intent()
    updates = watcher(world).watch(secret_key(), intent.id)
    first = await next_update(updates)
    assert (first.intent.status, first.final) == (Status.REQUIRES_PAYMENT_METHOD, False)

    token = world.token("4000002760003184")  # 3-D Secure: REQUIRES_ACTION, then approved
    await world.payments.confirm(secret_key(), intent.id, ConfirmPaymentIntent(token))
    action = await next_update(updates)
    assert (action.intent.status, action.final) == (Status.REQUIRES_ACTION, False)
    assert action.intent.next_action is not None

    await world.payments.complete_action(action.intent.latest_attempt, True)
    last = await next_update(updates)
    assert last.intent.status is Status.SUCCEEDED
    assert (last.final, last.end) == (True, WatchEnd.TERMINAL_STATUS)
    with pytest.raises(StopAsyncIteration):
        await next_update(updates)
    assert world.uow.store.changes.subscribers == 0


async def test_an_intent_already_terminal_is_one_final_update(world: World) -> None:
    intent = await world.paid()
    updates = watcher(world).watch(secret_key(), intent.id)
    only = await next_update(updates)
    assert (only.intent.status, only.end) == (Status.SUCCEEDED, WatchEnd.TERMINAL_STATUS)
    with pytest.raises(StopAsyncIteration):
        await next_update(updates)


async def test_a_cancel_ends_the_watch(world: World) -> None:
    intent = await world.intent()
    updates = watcher(world).watch(secret_key(), intent.id)
    await next_update(updates)
    await world.payments.cancel(secret_key(), intent.id, "abandoned")
    last = await next_update(updates)
    assert (last.intent.status, last.end) == (Status.CANCELED, WatchEnd.TERMINAL_STATUS)


async def test_a_change_that_leaves_the_intent_as_it_was_sends_nothing(world: World) -> None:
    intent = await world.intent()
    updates = watcher(world).watch(secret_key(), intent.id)
    await next_update(updates)
    world.uow.store.changes.publish([intent.id])  # a tick without a new version
    pending = asyncio.ensure_future(anext(updates))
    done, _ = await asyncio.wait({pending}, timeout=0.2)
    assert not done
    await world.payments.cancel(secret_key(), intent.id)
    assert (await pending).intent.status is Status.CANCELED


async def test_the_watch_ends_at_its_longest_duration(world: World) -> None:
    intent = await world.intent()
    updates = watcher(world, max_seconds=0.2).watch(secret_key(), intent.id)
    assert not (await next_update(updates)).final
    last = await next_update(updates)
    assert last.intent.status is Status.REQUIRES_PAYMENT_METHOD
    assert (last.final, last.end) == (True, WatchEnd.MAX_DURATION)
    with pytest.raises(StopAsyncIteration):
        await next_update(updates)
    assert world.uow.store.changes.subscribers == 0


async def test_a_feed_that_stops_ends_the_watch_as_interrupted(world: World) -> None:
    intent = await world.intent()
    updates = watcher(world).watch(secret_key(), intent.id)
    await next_update(updates)
    await world.uow.store.changes.aclose()  # the process is shutting down
    last = await next_update(updates)
    assert (last.intent.id, last.end) == (intent.id, WatchEnd.INTERRUPTED)


async def test_errors_come_before_the_first_update(world: World) -> None:
    intent = await world.intent()
    with pytest.raises(NotFound):
        await anext(watcher(world).watch(secret_key(OTHER_MERCHANT), intent.id))
    with pytest.raises(NotFound):  # a publishable key needs the client secret
        await anext(watcher(world).watch(publishable_key(), intent.id))
    with pytest.raises(NotFound):
        await anext(watcher(world).watch(secret_key(), "pi_nope"))
    updates = watcher(world).watch(publishable_key(), intent.id, client_secret=intent.client_secret)
    assert (await next_update(updates)).intent.id == intent.id
    await updates.aclose()
    assert world.uow.store.changes.subscribers == 0


async def test_a_database_lost_mid_watch_ends_it_with_the_intent_last_seen(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    intent = await world.intent()
    updates = watcher(world).watch(secret_key(), intent.id)
    await next_update(updates)

    async def unavailable(*args: object, **kwargs: object) -> None:
        raise Unavailable("The database is unavailable.")

    monkeypatch.setattr(world.intents, "get", unavailable)
    world.uow.store.changes.publish([intent.id])
    last = await next_update(updates)
    assert (last.intent, last.end) == (intent, WatchEnd.INTERRUPTED)
