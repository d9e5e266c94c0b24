"""IntentChanges in one process: the in-memory unit of work publishes its commits here.

The memory counterpart of adapters/sql/intent_changes.py (LISTEN/NOTIFY); the same
contract tests run against both.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable


class Subscription:
    """One reader's pending tick: set by publishers, taken by the reader. Several ticks
    before the reader comes back are one."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()
        self._ended = False

    def tick(self) -> None:
        self._changed.set()

    def end(self) -> None:
        self._ended = True
        self._changed.set()

    async def next(self) -> bool:
        """Waits for the next tick: True, or False once the feed has ended."""
        await self._changed.wait()
        self._changed.clear()
        return not self._ended


class Subscribers:
    """Subscriptions by intent id: the fan-out both implementations share."""

    def __init__(self) -> None:
        self._by_intent: defaultdict[str, set[Subscription]] = defaultdict(set)
        self.closed = False

    def __len__(self) -> int:
        return sum(len(subs) for subs in self._by_intent.values())

    def tick(self, intent_ids: Iterable[str]) -> None:
        for intent_id in intent_ids:
            for subscription in self._by_intent.get(intent_id, ()):
                subscription.tick()

    def end_all(self) -> None:
        for subscriptions in self._by_intent.values():
            for subscription in subscriptions:
                subscription.end()

    async def listen(
        self,
        intent_id: str,
        prepare: Callable[[], Awaitable[None]] | None = None,
        *,
        watch: Callable[[str], Awaitable[object]] | None = None,
        unwatch: Callable[[object], Awaitable[None]] | None = None,
    ) -> AsyncGenerator[None, None]:
        """The body of IntentChanges.subscribe: awaits `prepare` (connect and LISTEN),
        registers, awaits `watch(intent_id)` (PostgreSQL: the intent is watched from then
        on; what it returns goes to `unwatch` when the subscription ends), then ticks
        once. Registered before `watch`, so nothing told meanwhile is dropped."""
        if self.closed:
            return
        if prepare is not None:
            await prepare()
            if self.closed:
                return
        subscription = Subscription()
        self._by_intent[intent_id].add(subscription)
        watched: list[object] = []
        try:
            if watch is not None:
                watched.append(await watch(intent_id))
            yield
            while await subscription.next():
                yield
        finally:
            subscriptions = self._by_intent.get(intent_id)
            if subscriptions is not None:
                subscriptions.discard(subscription)
                if not subscriptions:
                    del self._by_intent[intent_id]
            if watched and unwatch is not None:
                await unwatch(watched[0])


class MemoryIntentChanges:
    """Ticks on `publish(intent ids)`, which MemoryUnitOfWork calls after each commit
    that appended payment events."""

    def __init__(self) -> None:
        self._subscribers = Subscribers()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, intent_ids: Iterable[str]) -> None:
        self._subscribers.tick(intent_ids)

    def subscribe(self, merchant_id: str, intent_id: str) -> AsyncGenerator[None, None]:
        return self._subscribers.listen(intent_id)

    async def aclose(self) -> None:
        """Ends every subscription, and refuses new ones (they end at once)."""
        self._subscribers.closed = True
        self._subscribers.end_all()
