"""The worker's housekeeping of events: pruning after the retention, the internal stream."""

from __future__ import annotations

from core.events.model import WebhookPolicy
from core.events.ports import EventStream
from core.shared.ports import Clock
from core.unit_of_work import UnitOfWorkFactory


class EventMaintenance:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        policy: WebhookPolicy | None = None,
        stream: EventStream | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self.policy = policy or WebhookPolicy()
        self.stream = stream

    async def prune(self, *, limit: int = 1000) -> int:
        """Deletes events older than the retention (30 days), with their deliveries."""
        cutoff = self._clock.now() - self.policy.retention
        async with self._uow() as uow:
            count = await uow.events.prune(cutoff, limit=limit)
            await uow.commit()
        return count

    async def relay_to_stream(self, *, limit: int = 500) -> int:
        """Appends events not yet streamed, oldest first, then marks them, holding their
        rows locked (SKIP LOCKED) meanwhile: a crash between the two appends them again
        (at least once), and two workers never append the same batch."""
        if self.stream is None:
            return 0
        async with self._uow() as uow:
            events = list(await uow.events.claim_unstreamed(limit=limit))
            if not events:
                return 0
            await self.stream.append(events)
            await uow.events.mark_streamed([e.id for e in events], self._clock.now())
            await uow.commit()
        return len(events)
