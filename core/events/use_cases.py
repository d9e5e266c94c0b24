"""The events API, webhook endpoints and the delivery log, as merchants use them.

Endpoint changes are settings: each is audited in its own transaction (core.access.audit).
A secret is shown once, when it is made (create, rotate_secret).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from core.access.audit import Action, caller_event
from core.access.model import Principal
from core.events.model import (
    ALL_EVENTS,
    EVENT_TYPES,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    EventFilter,
    SignatureScheme,
    WebhookEndpoint,
    WebhookPolicy,
)
from core.events.signing import new_secret
from core.events.ssrf import UrlGuard, UrlRefused
from core.shared.errors import FailedPrecondition, InvalidArgument, NotFound, Violations
from core.shared.ids import has_prefix
from core.shared.pagination import Page, page_limit, unknown_cursor
from core.shared.ports import Clock, IdGenerator
from core.unit_of_work import UnitOfWork, UnitOfWorkFactory

MAX_ENDPOINTS = 16  # per merchant, both modes together
MAX_DESCRIPTION = 500
MAX_ROTATION_OVERLAP = timedelta(days=7)


@dataclass(frozen=True)
class EndpointSettings:
    """Create or update: None leaves a field as it is (update) or takes the default."""

    url: str | None = None
    enabled_events: tuple[str, ...] | None = None
    description: str | None = None
    disabled: bool | None = None
    # Create only; None is STANDARD_WEBHOOKS.
    signature_scheme: SignatureScheme | None = None


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once


@dataclass(frozen=True)
class DeliveryWithAttempts:
    delivery: Delivery
    attempts: tuple[DeliveryAttempt, ...]


def _not_found(kind: str, value: str, param: str = "id") -> NotFound:
    shown = value if len(value) <= 40 else value[:40] + "..."
    return NotFound(f"No such {kind}: {shown!r}", metadata={"param": param})


def _check_types(types: Sequence[str], field: str, violations: Violations) -> tuple[str, ...]:
    for i, value in enumerate(types):
        if value != ALL_EVENTS and value not in EVENT_TYPES:
            violations.add(f"{field}[{i}]", f"{value[:60]!r} is not an event type")
    return tuple(dict.fromkeys(types))


class Events:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def get(self, caller: Principal, event_id: str) -> Event:
        event = None
        if has_prefix(event_id, "evt"):
            async with self._uow() as uow:
                event = await uow.events.get(caller.merchant_id, event_id)
        if event is None or event.livemode != caller.livemode:
            raise _not_found("event", event_id)
        return event

    async def list(
        self,
        caller: Principal,
        *,
        limit: int = 0,
        starting_after: str = "",
        types: Sequence[str] = (),
        created_gte: datetime | None = None,
        created_lte: datetime | None = None,
        delivery_success: bool | None = None,
    ) -> Page[Event]:
        violations = Violations()
        limit = page_limit(limit, violations)
        wanted = _check_types(types, "types", violations)
        if ALL_EVENTS in wanted:
            wanted = ()
        if created_gte and created_lte and created_gte > created_lte:
            violations.add("created.gte", "must not be after created.lte")
        violations.raise_if_any()
        where = EventFilter(wanted, created_gte, created_lte, delivery_success)
        async with self._uow() as uow:
            if starting_after and await uow.events.get(caller.merchant_id, starting_after) is None:
                raise unknown_cursor()
            rows = await uow.events.list(
                caller.merchant_id,
                caller.livemode,
                limit=limit + 1,
                starting_after=starting_after or None,
                where=where,
            )
        return Page.from_overfetch(list(rows), limit)

    async def follow(
        self,
        caller: Principal,
        types: Sequence[str] = (),
        *,
        poll_seconds: float = 0.25,
        stop: asyncio.Event | None = None,
    ) -> AsyncGenerator[Event | None, None]:
        """The caller's events from now on, oldest first, until `stop` (paygate listen).
        Yields None first, once the starting point is fixed: nothing after it is missed.

        Polls with an overlap: a transaction that commits late may carry an event created
        before the last poll, so each poll looks back LOOKBACK and skips what it sent."""
        violations = Violations()
        wanted = set(_check_types(types, "events", violations))
        violations.raise_if_any()
        everything = not wanted or ALL_EVENTS in wanted
        since = self._clock.now()
        sent: dict[str, datetime] = {}
        stop = stop or asyncio.Event()
        yield None
        while not stop.is_set():
            now = self._clock.now()
            async with self._uow() as uow:
                rows = await uow.events.created_since(
                    caller.merchant_id, caller.livemode, min(since, now - LOOKBACK), limit=500
                )
            for event in rows:
                if event.id in sent or event.created < since:
                    continue
                sent[event.id] = event.created
                if everything or event.type in wanted:
                    yield event
            cutoff = now - 2 * LOOKBACK
            for event_id in [i for i, at in sent.items() if at < cutoff]:
                del sent[event_id]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)


LOOKBACK = timedelta(seconds=30)


class WebhookEndpoints:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: IdGenerator,
        clock: Clock,
        guard: UrlGuard,
        policy: WebhookPolicy | None = None,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._guard = guard
        self.policy = policy or WebhookPolicy()

    async def _check(
        self, caller: Principal, settings: EndpointSettings, *, creating: bool
    ) -> None:
        violations = Violations()
        if settings.enabled_events is not None:
            if creating and not settings.enabled_events:
                violations.missing("enabled_events", 'is required: event types, or "*" for all')
            _check_types(settings.enabled_events, "enabled_events", violations)
        elif creating:
            violations.missing("enabled_events", 'is required: event types, or "*" for all')
        if settings.description is not None and len(settings.description) > MAX_DESCRIPTION:
            violations.add("description", f"may be at most {MAX_DESCRIPTION} characters")
        if creating and not settings.url:
            violations.missing("url", "is required: where paygate POSTs events")
        violations.raise_if_any()
        if settings.url is not None:
            try:
                await self._guard.check(settings.url, livemode=caller.livemode)
            except UrlRefused as refused:
                raise refused.to_invalid_argument() from None

    async def create(self, caller: Principal, settings: EndpointSettings) -> CreatedEndpoint:
        await self._check(caller, settings, creating=True)
        now = self._clock.now()
        secret = new_secret(self._ids)
        endpoint = WebhookEndpoint(
            id=self._ids.new("we"),
            merchant_id=caller.merchant_id,
            url=settings.url or "",
            enabled_events=settings.enabled_events or (ALL_EVENTS,),
            livemode=caller.livemode,
            secret=secret,
            created=now,
            description=settings.description or "",
            disabled=bool(settings.disabled),
            signature_scheme=settings.signature_scheme or SignatureScheme.STANDARD_WEBHOOKS,
        )
        async with self._uow() as uow:
            if await uow.webhook_endpoints.count(caller.merchant_id) >= MAX_ENDPOINTS:
                raise FailedPrecondition(
                    f"An account may have at most {MAX_ENDPOINTS} webhook endpoints.",
                    reason="WEBHOOK_ENDPOINT_LIMIT",
                    metadata={"max": str(MAX_ENDPOINTS)},
                )
            await uow.webhook_endpoints.add(endpoint)
            await uow.audit.append(
                caller_event(
                    caller,
                    Action.WEBHOOK_ENDPOINT_CREATE,
                    now,
                    target=endpoint.id,
                    details={"url": endpoint.url, "events": ",".join(endpoint.enabled_events)},
                )
            )
            await uow.commit()
        return CreatedEndpoint(endpoint, secret.reveal())

    async def get(self, caller: Principal, endpoint_id: str) -> WebhookEndpoint:
        async with self._uow() as uow:
            return await self._load(uow, caller, endpoint_id)

    async def _load(
        self, uow: UnitOfWork, caller: Principal, endpoint_id: str, *, for_update: bool = False
    ) -> WebhookEndpoint:
        endpoint = None
        if has_prefix(endpoint_id, "we"):
            endpoint = await uow.webhook_endpoints.get(
                caller.merchant_id, endpoint_id, for_update=for_update
            )
        if endpoint is None or endpoint.livemode != caller.livemode:
            raise _not_found("webhook endpoint", endpoint_id)
        return endpoint

    async def list(
        self, caller: Principal, *, limit: int = 0, starting_after: str = ""
    ) -> Page[WebhookEndpoint]:
        violations = Violations()
        limit = page_limit(limit, violations)
        violations.raise_if_any()
        async with self._uow() as uow:
            if (
                starting_after
                and await uow.webhook_endpoints.get(caller.merchant_id, starting_after) is None
            ):
                raise unknown_cursor()
            rows = await uow.webhook_endpoints.list(
                caller.merchant_id,
                caller.livemode,
                limit=limit + 1,
                starting_after=starting_after or None,
            )
        return Page.from_overfetch(list(rows), limit)

    async def update(
        self, caller: Principal, endpoint_id: str, settings: EndpointSettings
    ) -> WebhookEndpoint:
        await self._check(caller, settings, creating=False)
        now = self._clock.now()
        async with self._uow() as uow:
            endpoint = await self._load(uow, caller, endpoint_id, for_update=True)
            changed = []
            if settings.url is not None and settings.url != endpoint.url:
                endpoint.url = settings.url
                changed.append("url")
            if settings.enabled_events is not None:
                endpoint.enabled_events = settings.enabled_events
                changed.append("enabled_events")
            if settings.description is not None:
                endpoint.description = settings.description
                changed.append("description")
            if settings.disabled is not None and settings.disabled != endpoint.disabled:
                endpoint.disabled = settings.disabled
                endpoint.disabled_reason = "disabled by the merchant" if settings.disabled else ""
                endpoint.failing_since = None  # a fresh start when enabled again
                changed.append("disabled")
            await uow.webhook_endpoints.update(endpoint)
            await uow.audit.append(
                caller_event(
                    caller,
                    Action.WEBHOOK_ENDPOINT_UPDATE,
                    now,
                    target=endpoint.id,
                    details={"changed": ",".join(changed), "url": endpoint.url},
                )
            )
            await uow.commit()
        return endpoint

    async def delete(self, caller: Principal, endpoint_id: str) -> WebhookEndpoint:
        now = self._clock.now()
        async with self._uow() as uow:
            endpoint = await self._load(uow, caller, endpoint_id, for_update=True)
            await uow.webhook_endpoints.delete(caller.merchant_id, endpoint.id)
            await uow.audit.append(
                caller_event(caller, Action.WEBHOOK_ENDPOINT_DELETE, now, target=endpoint.id)
            )
            await uow.commit()
        return endpoint

    async def rotate_secret(
        self, caller: Principal, endpoint_id: str, overlap: timedelta | None = None
    ) -> CreatedEndpoint:
        """A new secret, shown once; the old one still signs (a second signature on each
        delivery) until the overlap ends, so receivers can switch without a gap."""
        overlap = self.policy.rotation_overlap if overlap is None else overlap
        if overlap < timedelta(0) or overlap > MAX_ROTATION_OVERLAP:
            raise InvalidArgument.field(
                "overlap_seconds",
                f"must be between 0 and {int(MAX_ROTATION_OVERLAP.total_seconds())}",
            )
        now = self._clock.now()
        secret = new_secret(self._ids)
        async with self._uow() as uow:
            endpoint = await self._load(uow, caller, endpoint_id, for_update=True)
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_expires_at = now + overlap
            endpoint.secret = secret
            await uow.webhook_endpoints.update(endpoint)
            await uow.audit.append(
                caller_event(
                    caller,
                    Action.WEBHOOK_SECRET_ROTATE,
                    now,
                    target=endpoint.id,
                    details={"overlap_seconds": str(int(overlap.total_seconds()))},
                )
            )
            await uow.commit()
        return CreatedEndpoint(endpoint, secret.reveal())

    # --- the delivery log ----------------------------------------------------------------

    async def deliveries(
        self,
        caller: Principal,
        *,
        event_id: str = "",
        endpoint_id: str = "",
        limit: int = 0,
        starting_after: str = "",
    ) -> Page[DeliveryWithAttempts]:
        violations = Violations()
        limit = page_limit(limit, violations)
        if bool(event_id) == bool(endpoint_id):
            violations.add("event", "give either an event or a webhook endpoint")
        violations.raise_if_any()
        async with self._uow() as uow:
            if endpoint_id:
                await self._load(uow, caller, endpoint_id)
            elif (
                not has_prefix(event_id, "evt")
                or (await uow.events.get(caller.merchant_id, event_id)) is None
            ):
                raise _not_found("event", event_id)
            if (
                starting_after
                and await uow.webhook_deliveries.get(caller.merchant_id, starting_after) is None
            ):
                raise unknown_cursor()
            rows = list(
                await uow.webhook_deliveries.list(
                    caller.merchant_id,
                    event_id=event_id or None,
                    endpoint_id=endpoint_id or None,
                    limit=limit + 1,
                    starting_after=starting_after or None,
                )
            )
            page = Page.from_overfetch(rows, limit)
            attempts = await uow.webhook_deliveries.attempts(
                caller.merchant_id, [d.id for d in page.data]
            )
        by_delivery: dict[str, builtins.list[DeliveryAttempt]] = {}
        for attempt in attempts:
            by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
        return Page(
            [DeliveryWithAttempts(d, tuple(by_delivery.get(d.id, ()))) for d in page.data],
            page.has_more,
        )

    async def retry(self, caller: Principal, delivery_id: str) -> Delivery:
        """Sends one delivery again now (one more attempt, whatever its status)."""
        now = self._clock.now()
        async with self._uow() as uow:
            delivery = None
            if has_prefix(delivery_id, "whd"):
                delivery = await uow.webhook_deliveries.get(
                    caller.merchant_id, delivery_id, for_update=True
                )
            if delivery is None:
                raise _not_found("webhook delivery", delivery_id)
            await self._load(uow, caller, delivery.endpoint_id)
            delivery = replace(delivery, status=DeliveryStatus.PENDING, next_attempt_at=now)
            await uow.webhook_deliveries.update(delivery)
            await uow.audit.append(
                caller_event(caller, Action.WEBHOOK_DELIVERY_RETRY, now, target=delivery.id)
            )
            await uow.commit()
        return delivery

    async def replay(self, caller: Principal, endpoint_id: str, since: datetime | None) -> int:
        """Sends again every FAILED delivery of the endpoint made at or after `since`."""
        if since is None:
            raise InvalidArgument.field("since", "is required: the time to replay from")
        now = self._clock.now()
        async with self._uow() as uow:
            endpoint = await self._load(uow, caller, endpoint_id)
            count = await uow.webhook_deliveries.requeue_failed(
                caller.merchant_id, endpoint.id, since, now
            )
            await uow.audit.append(
                caller_event(
                    caller,
                    Action.WEBHOOK_DELIVERIES_REPLAY,
                    now,
                    target=endpoint.id,
                    details={"since": since.isoformat(), "requeued": str(count)},
                )
            )
            await uow.commit()
        return count
