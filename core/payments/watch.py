"""Watching a payment intent: the intent now, then each change, then an end that says why.

A stream over HTTP/1.1 cannot carry an error once it has begun (API.md), so a watch never
ends silently: its last update is marked final and names the reason. Errors (no such
intent, a wrong client secret, the change feed unavailable) happen before the first
update, where they are still ordinary errors.

    intent = get (authorizes the caller)
    subscribe to changes            -> first tick as soon as nothing can be missed
    on each tick: load the intent; send it if its version moved; stop when terminal
    stop at the deadline or when the feed ends, with the intent as it is then
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from enum import StrEnum

from core.access.model import Principal
from core.payments.model import TERMINAL, PaymentIntent
from core.payments.ports import IntentChanges
from core.payments.use_cases import PaymentIntents
from core.shared.errors import Unavailable

# The longest a watch runs before it ends with MAX_DURATION and the client watches again:
# connections do not pile up forever, and Envoy's and browsers' idle limits are met.
MAX_WATCH_SECONDS = 600.0


class WatchEnd(StrEnum):
    TERMINAL_STATUS = "TERMINAL_STATUS"  # SUCCEEDED or CANCELED: no status change follows
    MAX_DURATION = "MAX_DURATION"  # watch again
    INTERRUPTED = "INTERRUPTED"  # shutting down, or the change feed broke: watch again


@dataclass(frozen=True)
class IntentUpdate:
    intent: PaymentIntent
    end: WatchEnd | None = None  # set on the last update only

    @property
    def final(self) -> bool:
        return self.end is not None


class IntentWatch:
    def __init__(
        self,
        intents: PaymentIntents,
        changes: IntentChanges,
        *,
        max_seconds: float = MAX_WATCH_SECONDS,
    ) -> None:
        self._intents = intents
        self._changes = changes
        self.max_seconds = max_seconds

    async def watch(
        self, caller: Principal, intent_id: str, *, client_secret: str = ""
    ) -> AsyncGenerator[IntentUpdate, None]:
        """Updates of one intent of the caller's merchant (a publishable key also needs the
        client secret, as for get). NotFound and Unavailable are raised before the first
        update; after it, the watch always ends with a final update (the database
        becoming unavailable included: INTERRUPTED with the intent last seen)."""

        async def load() -> PaymentIntent:
            return await self._intents.get(caller, intent_id, client_secret=client_secret)

        intent = await load()
        if intent.status in TERMINAL:
            yield IntentUpdate(intent, WatchEnd.TERMINAL_STATUS)
            return
        deadline = asyncio.get_running_loop().time() + self.max_seconds
        sent_version: int | None = None
        async with aclosing(self._changes.subscribe(intent.merchant_id, intent.id)) as ticks:
            while True:
                end = None
                try:
                    async with asyncio.timeout_at(deadline):
                        if await anext(ticks, _ENDED) is _ENDED:
                            end = WatchEnd.INTERRUPTED
                except TimeoutError:
                    end = WatchEnd.MAX_DURATION
                try:
                    intent = await load()
                except Unavailable:
                    if sent_version is None:
                        raise  # nothing sent yet: still an ordinary error
                    # The last intent this watch saw is the best it has.
                    end = end or WatchEnd.INTERRUPTED
                if end is None and intent.status in TERMINAL:
                    end = WatchEnd.TERMINAL_STATUS
                if end is not None:
                    yield IntentUpdate(intent, end)
                    return
                if intent.version != sent_version:
                    sent_version = intent.version
                    yield IntentUpdate(intent)


_ENDED = object()
