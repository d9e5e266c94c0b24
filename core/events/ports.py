"""What the events context needs from the outside world."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from core.events.model import (
    Claimed,
    Delivery,
    DeliveryAttempt,
    Event,
    EventFilter,
    FanOut,
    RequestRef,
    WebhookEndpoint,
)
from core.events.ssrf import Destination

if TYPE_CHECKING:
    from core.unit_of_work import UnitOfWork


class ObjectRenderer(Protocol):
    """The object as the public API renders it (JSON-ready): the same code that answers
    GET /v1/<object>/{id}, so an event's data.object and the API never disagree."""

    def render(self, obj: object) -> Mapping[str, Any]: ...


class RequestContext(Protocol):
    """The API request being served, if any (the worker has none)."""

    def current(self) -> RequestRef: ...


class NoRequest:
    def current(self) -> RequestRef:
        return RequestRef()


class EventRepository(Protocol):
    async def add(self, event: Event) -> None: ...

    async def add_with_deliveries(self, event: Event, fan_out: FanOut) -> None:
        """Adds the event and its deliveries (FanOut) in one go: the endpoints subscribed
        are the ones the unit of work sees when the event is written, so an endpoint
        committed before it gets the event, and no endpoint is read apart."""
        ...

    async def get(self, merchant_id: str, event_id: str) -> Event | None: ...

    async def list(
        self,
        merchant_id: str,
        livemode: bool,
        *,
        limit: int,
        starting_after: str | None = None,
        where: EventFilter | None = None,
    ) -> Sequence[Event]:
        """Newest first, older than `starting_after` when given."""
        ...

    async def created_since(
        self, merchant_id: str, livemode: bool, since: datetime, *, limit: int
    ) -> Sequence[Event]:
        """Events created at or after `since`, oldest first (`paygate listen`)."""
        ...

    async def prune(self, created_before: datetime, *, limit: int) -> int:
        """Deletes up to `limit` events older than the cutoff, with their deliveries and
        attempts. Returns how many events went."""
        ...

    async def claim_unstreamed(self, *, limit: int) -> Sequence[Event]:
        """Locks (FOR UPDATE SKIP LOCKED) up to `limit` events not yet appended to the
        internal stream, oldest first."""
        ...

    async def mark_streamed(self, event_ids: Sequence[str], at: datetime) -> None: ...

    async def claim_unnotified(self, *, limit: int) -> Sequence[Event]:
        """Locks (FOR UPDATE SKIP LOCKED) up to `limit` events the notifications context
        has not looked at yet, oldest first (core/notifications/use_cases.py)."""
        ...

    async def mark_notified(self, event_ids: Sequence[str], at: datetime) -> None: ...


class WebhookEndpointRepository(Protocol):
    async def add(self, endpoint: WebhookEndpoint) -> None: ...

    async def get(
        self, merchant_id: str, endpoint_id: str, *, for_update: bool = False
    ) -> WebhookEndpoint | None: ...

    async def list(
        self, merchant_id: str, livemode: bool, *, limit: int, starting_after: str | None = None
    ) -> Sequence[WebhookEndpoint]:
        """Newest first."""
        ...

    async def subscribed(
        self, merchant_id: str, livemode: bool, event_type: str
    ) -> Sequence[WebhookEndpoint]:
        """The enabled endpoints of that mode that want `event_type`."""
        ...

    async def count(self, merchant_id: str) -> int: ...

    async def update(self, endpoint: WebhookEndpoint) -> None:
        """Optimistic: raises core.shared.errors.Conflict when the version moved."""
        ...

    async def delete(self, merchant_id: str, endpoint_id: str) -> bool:
        """Deletes it with its deliveries and their attempts; False when there was none."""
        ...


class DeliveryRepository(Protocol):
    async def add_many(self, deliveries: Sequence[Delivery]) -> None: ...

    async def get(
        self, merchant_id: str, delivery_id: str, *, for_update: bool = False
    ) -> Delivery | None: ...

    async def claim_due(
        self, now: datetime, lease_until: datetime, token: str, *, limit: int, per_endpoint: int
    ) -> Sequence[Claimed]:
        """Leases up to `limit` PENDING deliveries due by `now` whose endpoint is enabled
        and whose lease (if any) has run out, oldest due first: picks them FOR UPDATE SKIP
        LOCKED, counts the attempt, sets `lease_until` and `token`, and returns each with
        its event and endpoint. No endpoint gets more than `per_endpoint` leased
        deliveries at once (those already leased by any worker count)."""
        ...

    async def update(self, delivery: Delivery) -> None: ...

    async def add_attempt(self, attempt: DeliveryAttempt) -> None: ...

    async def list(
        self,
        merchant_id: str,
        *,
        event_id: str | None = None,
        endpoint_id: str | None = None,
        limit: int,
        starting_after: str | None = None,
    ) -> Sequence[Delivery]:
        """Newest first."""
        ...

    async def attempts(
        self, merchant_id: str, delivery_ids: Sequence[str]
    ) -> Sequence[DeliveryAttempt]:
        """The attempts of those deliveries, oldest first."""
        ...

    async def requeue_failed(
        self, merchant_id: str, endpoint_id: str, since: datetime, now: datetime
    ) -> int:
        """FAILED deliveries of the endpoint created at or after `since`: PENDING, due
        `now`. Returns how many."""
        ...


class EventsScope(Protocol):
    """The events context's repositories in a unit of work (core/unit_of_work.py): the
    outbox joins the transaction of every change, so an event commits with it."""

    events: EventRepository
    webhook_endpoints: WebhookEndpointRepository
    webhook_deliveries: DeliveryRepository


# --- delivery over HTTP ------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    status_code: int  # 0: no response (timeout, refused, reset)
    body: str  # the first KiB of the response
    latency_ms: int
    retry_after: float | None = None  # seconds, from a 429 or 503
    error: str = ""


class WebhookSender(Protocol):
    async def send(
        self, destination: Destination, headers: Mapping[str, str], body: bytes, within: float
    ) -> SendResult:
        """POSTs `body` to the destination's checked address (never resolving the host
        again), with the URL's host as Host and TLS SNI; follows no redirect. Never
        raises for what the endpoint does: a failure is a SendResult."""
        ...


class EventStream(Protocol):
    """Where internal consumers read events (a Redis Stream)."""

    async def append(self, events: Sequence[Event]) -> None: ...


class Publisher(Protocol):
    """The transactional outbox as the other contexts see it."""

    async def publish(
        self,
        uow: UnitOfWork,
        *,
        merchant_id: str,
        type: str,
        obj: object,
        livemode: bool,
        at: datetime,
    ) -> Event | None: ...


class NoPublisher:
    """For tests of a context alone."""

    async def publish(
        self,
        uow: UnitOfWork,
        *,
        merchant_id: str,
        type: str,
        obj: object,
        livemode: bool,
        at: datetime,
    ) -> Event | None:
        return None


class DeliveryWakeups(Protocol):
    """Tells the dispatcher that deliveries may be due: whatever wrote one (the outbox,
    a retry, a replay, an endpoint enabled again) anywhere, or a gap in which it may have
    missed that. While `listening` is False nothing is told and the dispatcher polls."""

    @property
    def listening(self) -> bool: ...

    def follow(self, wake: Callable[[], None]) -> None: ...
