"""In-memory events, webhook endpoints and deliveries: the fakes of core/events/ports.py.

tests/contract/test_events_contract.py runs the same cases against these and PostgreSQL.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from core.events.model import (
    Claimed,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    EventFilter,
    FanOut,
    WebhookEndpoint,
)
from core.shared.errors import Conflict


@dataclass
class EventTables:
    events: dict[str, Event] = field(default_factory=dict)
    streamed: set[str] = field(default_factory=set)
    notified: set[str] = field(default_factory=set)
    endpoints: dict[str, WebhookEndpoint] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    attempts: list[DeliveryAttempt] = field(default_factory=list)


def subscribed(
    tables: EventTables, merchant_id: str, livemode: bool, event_type: str
) -> list[WebhookEndpoint]:
    """The enabled endpoints of that merchant and mode that want `event_type`, by id."""
    return [
        e
        for e in sorted(tables.endpoints.values(), key=lambda e: e.id)
        if e.merchant_id == merchant_id and e.livemode == livemode and e.wants(event_type)
    ]


class MemoryEvents:
    def __init__(self, tables: EventTables) -> None:
        self._t = tables

    async def add(self, event: Event) -> None:
        self._t.events[event.id] = event

    async def add_with_deliveries(self, event: Event, fan_out: FanOut) -> None:
        self._t.events[event.id] = event
        for endpoint in subscribed(self._t, event.merchant_id, event.livemode, event.type):
            if endpoint.id != fan_out.exclude_endpoint:
                delivery = fan_out.delivery(event, endpoint.id)
                self._t.deliveries[delivery.id] = delivery

    async def get(self, merchant_id: str, event_id: str) -> Event | None:
        event = self._t.events.get(event_id)
        return event if event is not None and event.merchant_id == merchant_id else None

    def _delivered(self, event_id: str) -> bool:
        return all(
            d.status is DeliveryStatus.SUCCEEDED
            for d in self._t.deliveries.values()
            if d.event_id == event_id
        )

    async def list(
        self,
        merchant_id: str,
        livemode: bool,
        *,
        limit: int,
        starting_after: str | None = None,
        where: EventFilter | None = None,
    ) -> Sequence[Event]:
        where = where or EventFilter()
        rows = sorted(
            (
                e
                for e in self._t.events.values()
                if e.merchant_id == merchant_id
                and e.livemode == livemode
                and (starting_after is None or e.id < starting_after)
                and (not where.types or e.type in where.types)
                and (where.created_gte is None or e.created >= where.created_gte)
                and (where.created_lte is None or e.created <= where.created_lte)
                and (
                    where.delivery_success is None
                    or self._delivered(e.id) == where.delivery_success
                )
            ),
            key=lambda e: e.id,
            reverse=True,
        )
        return rows[:limit]

    async def created_since(
        self, merchant_id: str, livemode: bool, since: datetime, *, limit: int
    ) -> Sequence[Event]:
        rows = sorted(
            (
                e
                for e in self._t.events.values()
                if e.merchant_id == merchant_id and e.livemode == livemode and e.created >= since
            ),
            key=lambda e: (e.created, e.id),
        )
        return rows[:limit]

    async def prune(self, created_before: datetime, *, limit: int) -> int:
        old = sorted(
            (e for e in self._t.events.values() if e.created < created_before), key=lambda e: e.id
        )[:limit]
        gone = {e.id for e in old}
        for event_id in gone:
            del self._t.events[event_id]
            self._t.streamed.discard(event_id)
            self._t.notified.discard(event_id)
        for delivery_id in [d.id for d in self._t.deliveries.values() if d.event_id in gone]:
            del self._t.deliveries[delivery_id]
        self._t.attempts = [a for a in self._t.attempts if a.event_id not in gone]
        return len(gone)

    async def claim_unstreamed(self, *, limit: int) -> Sequence[Event]:
        return self._unmarked(self._t.streamed, limit)

    async def mark_streamed(self, event_ids: Sequence[str], at: datetime) -> None:
        self._t.streamed.update(event_ids)

    async def claim_unnotified(self, *, limit: int) -> Sequence[Event]:
        return self._unmarked(self._t.notified, limit)

    async def mark_notified(self, event_ids: Sequence[str], at: datetime) -> None:
        self._t.notified.update(event_ids)

    def _unmarked(self, marked: set[str], limit: int) -> list[Event]:
        rows = sorted(
            (e for e in self._t.events.values() if e.id not in marked),
            key=lambda e: (e.created, e.id),
        )
        return rows[:limit]


class MemoryWebhookEndpoints:
    def __init__(self, tables: EventTables) -> None:
        self._t = tables

    async def add(self, endpoint: WebhookEndpoint) -> None:
        self._t.endpoints[endpoint.id] = copy.deepcopy(endpoint)

    async def get(
        self, merchant_id: str, endpoint_id: str, *, for_update: bool = False
    ) -> WebhookEndpoint | None:
        endpoint = self._t.endpoints.get(endpoint_id)
        if endpoint is None or endpoint.merchant_id != merchant_id:
            return None
        return copy.deepcopy(endpoint)

    async def list(
        self, merchant_id: str, livemode: bool, *, limit: int, starting_after: str | None = None
    ) -> Sequence[WebhookEndpoint]:
        rows = sorted(
            (
                e
                for e in self._t.endpoints.values()
                if e.merchant_id == merchant_id
                and e.livemode == livemode
                and (starting_after is None or e.id < starting_after)
            ),
            key=lambda e: e.id,
            reverse=True,
        )
        return [copy.deepcopy(e) for e in rows[:limit]]

    async def subscribed(
        self, merchant_id: str, livemode: bool, event_type: str
    ) -> Sequence[WebhookEndpoint]:
        return [copy.deepcopy(e) for e in subscribed(self._t, merchant_id, livemode, event_type)]

    async def count(self, merchant_id: str) -> int:
        return sum(1 for e in self._t.endpoints.values() if e.merchant_id == merchant_id)

    async def update(self, endpoint: WebhookEndpoint) -> None:
        stored = self._t.endpoints.get(endpoint.id)
        if stored is None or stored.version != endpoint.version:
            raise Conflict(
                "The webhook endpoint was changed concurrently.", reason="CONCURRENT_UPDATE"
            )
        endpoint.version += 1
        self._t.endpoints[endpoint.id] = copy.deepcopy(endpoint)

    async def delete(self, merchant_id: str, endpoint_id: str) -> bool:
        endpoint = self._t.endpoints.get(endpoint_id)
        if endpoint is None or endpoint.merchant_id != merchant_id:
            return False
        del self._t.endpoints[endpoint_id]
        gone = {d.id for d in self._t.deliveries.values() if d.endpoint_id == endpoint_id}
        for delivery_id in gone:
            del self._t.deliveries[delivery_id]
        self._t.attempts = [a for a in self._t.attempts if a.delivery_id not in gone]
        return True


class MemoryDeliveries:
    def __init__(self, tables: EventTables) -> None:
        self._t = tables

    async def add_many(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            self._t.deliveries[delivery.id] = copy.deepcopy(delivery)

    async def get(
        self, merchant_id: str, delivery_id: str, *, for_update: bool = False
    ) -> Delivery | None:
        delivery = self._t.deliveries.get(delivery_id)
        if delivery is None or delivery.merchant_id != merchant_id:
            return None
        return copy.deepcopy(delivery)

    async def claim_due(
        self, now: datetime, lease_until: datetime, token: str, *, limit: int, per_endpoint: int
    ) -> Sequence[Claimed]:
        leased: dict[str, int] = {}
        for d in self._t.deliveries.values():
            if d.status is DeliveryStatus.PENDING and d.lease_until and d.lease_until > now:
                leased[d.endpoint_id] = leased.get(d.endpoint_id, 0) + 1
        due = sorted(
            (
                d
                for d in self._t.deliveries.values()
                if d.status is DeliveryStatus.PENDING
                and d.next_attempt_at is not None
                and d.next_attempt_at <= now
                and (d.lease_until is None or d.lease_until <= now)
                and d.endpoint_id in self._t.endpoints
                and not self._t.endpoints[d.endpoint_id].disabled
            ),
            key=lambda d: (d.next_attempt_at, d.id),
        )
        claimed = []
        for delivery in due:
            if len(claimed) >= limit:
                break
            if leased.get(delivery.endpoint_id, 0) >= per_endpoint:
                continue
            leased[delivery.endpoint_id] = leased.get(delivery.endpoint_id, 0) + 1
            delivery.attempts += 1
            delivery.lease_until, delivery.lease_token = lease_until, token
            claimed.append(
                Claimed(
                    copy.deepcopy(delivery),
                    self._t.events[delivery.event_id],
                    copy.deepcopy(self._t.endpoints[delivery.endpoint_id]),
                )
            )
        return claimed

    async def update(self, delivery: Delivery) -> None:
        self._t.deliveries[delivery.id] = copy.deepcopy(delivery)

    async def add_attempt(self, attempt: DeliveryAttempt) -> None:
        if attempt.delivery_id in self._t.deliveries:
            self._t.attempts.append(attempt)

    async def list(
        self,
        merchant_id: str,
        *,
        event_id: str | None = None,
        endpoint_id: str | None = None,
        limit: int,
        starting_after: str | None = None,
    ) -> Sequence[Delivery]:
        rows = sorted(
            (
                d
                for d in self._t.deliveries.values()
                if d.merchant_id == merchant_id
                and (event_id is None or d.event_id == event_id)
                and (endpoint_id is None or d.endpoint_id == endpoint_id)
                and (starting_after is None or d.id < starting_after)
            ),
            key=lambda d: d.id,
            reverse=True,
        )
        return [copy.deepcopy(d) for d in rows[:limit]]

    async def attempts(
        self, merchant_id: str, delivery_ids: Sequence[str]
    ) -> Sequence[DeliveryAttempt]:
        wanted = set(delivery_ids)
        return sorted(
            (
                a
                for a in self._t.attempts
                if a.merchant_id == merchant_id and a.delivery_id in wanted
            ),
            key=lambda a: a.id,
        )

    async def requeue_failed(
        self, merchant_id: str, endpoint_id: str, since: datetime, now: datetime
    ) -> int:
        count = 0
        for delivery_id, d in list(self._t.deliveries.items()):
            if (
                d.merchant_id == merchant_id
                and d.endpoint_id == endpoint_id
                and d.status is DeliveryStatus.FAILED
                and d.created >= since
            ):
                self._t.deliveries[delivery_id] = replace(
                    d, status=DeliveryStatus.PENDING, next_attempt_at=now
                )
                count += 1
        return count
