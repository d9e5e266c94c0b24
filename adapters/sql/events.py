"""Events, webhook endpoints and deliveries over PostgreSQL (core/events/ports.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Integer,
    RowMapping,
    Text,
    and_,
    any_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import Grouping

from adapters.crypto.secret_box import SecretBox
from adapters.sql.held import Follower, hold
from adapters.sql.tables import (
    events,
    webhook_deliveries,
    webhook_delivery_attempts,
    webhook_endpoints,
)
from core.events.model import (
    ALL_EVENTS,
    Claimed,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    EventFilter,
    FanOut,
    RequestRef,
    SignatureScheme,
    WebhookEndpoint,
)
from core.shared.errors import Conflict

# Candidates looked at per claimed delivery: enough that a capped endpoint's backlog
# does not hide other endpoints' due deliveries behind it.
_OVERSCAN = 4


def _event(row: RowMapping) -> Event:
    return Event(
        id=row["id"],
        merchant_id=row["merchant_id"],
        type=row["type"],
        created=row["created"],
        livemode=row["livemode"],
        data=row["data"],
        request=RequestRef(row["request_id"], row["idempotency_key"]),
    )


# Every change of a payment writes an event and reads who subscribed to it: both built
# once (a statement object keeps its SQLAlchemy cache key) and run with parameters.
_INSERT_EVENT = insert(events)


def _subscription(prefix: str = "") -> tuple[Any, ...]:
    """Who wants an event: the enabled endpoints of its merchant and mode whose events
    overlap `types` (the event's type and the wildcard). One condition for the read and
    for the outbox's write."""
    e = webhook_endpoints.c
    return (
        e.merchant_id == bindparam(f"{prefix}merchant_id", type_=Text),
        e.livemode == bindparam(f"{prefix}livemode", type_=e.livemode.type),
        e.disabled.is_(False),
        e.enabled_events.overlap(bindparam(f"{prefix}types", type_=ARRAY(Text))),
    )


_SUBSCRIBED = select(webhook_endpoints).where(*_subscription()).order_by(webhook_endpoints.c.id)

# Delivery ids made ahead for an event: a merchant with more subscribed endpoints than
# this gets the rest in a second statement. Most have none or one, and an id costs a few
# microseconds against the hundreds of a statement.
_IDS_AHEAD = 3


def subscribed_endpoints(prefix: str = "") -> Any:
    """The CTE `subscribed`: the endpoints that want the event (`_subscription`) but
    `exclude`, numbered in id order (n), so that the n-th takes the n-th id made ahead."""
    e = webhook_endpoints.c
    return (
        select(e.id, func.row_number().over(order_by=e.id).label("n"))
        .where(*_subscription(prefix), e.id != bindparam(f"{prefix}exclude", type_=Text))
        .cte("subscribed")
    )


def delivery_ids(prefix: str = "") -> Any:
    """The delivery ids made ahead, a parameter."""
    return bindparam(f"{prefix}delivery_ids", type_=ARRAY(Text))


def _deliveries_made(subscribed: Any, ids: Any, after: Any = None, prefix: str = "") -> Any:
    """The CTE `made`: one PENDING delivery per subscribed endpoint that an id made ahead
    is left for; with `after` (a CTE of another write of the statement), only when that
    write returned a row."""
    d = webhook_deliveries.c
    rows = select(
        # (the cast of a bound array must be parenthesized before it is indexed)
        type_coerce(Grouping(ids), ARRAY(Text))[subscribed.c.n],
        bindparam(f"{prefix}id", type_=Text),
        subscribed.c.id,
        bindparam(f"{prefix}merchant_id", type_=Text),
        literal(DeliveryStatus.PENDING.value, Text),
        bindparam(f"{prefix}created", type_=events.c.created.type),
        bindparam(f"{prefix}due", type_=d.next_attempt_at.type),
    ).where(subscribed.c.n <= func.cardinality(ids))
    if after is not None:
        rows = rows.select_from(subscribed.join(after, true()))
    return (
        insert(webhook_deliveries)
        .from_select(
            [
                d.id,
                d.event_id,
                d.endpoint_id,
                d.merchant_id,
                d.status,
                d.created,
                d.next_attempt_at,
            ],
            rows,
        )
        .cte("made")
    )


_EVENT_COLUMNS = ("id", "merchant_id", "type", "created", "livemode", "data")


def _event_binds(prefix: str = "") -> dict[str, Any]:
    binds = {
        name: bindparam(f"{prefix}{name}", type_=events.c[name].type) for name in _EVENT_COLUMNS
    }
    return binds | {
        name: bindparam(f"{prefix}{name}", type_=Text) for name in ("request_id", "idempotency_key")
    }


def _add_with_deliveries() -> Any:
    """One statement for an event and its deliveries (the outbox's write, three a
    payment): the subscribed endpoints' read, the deliveries' insert and the event's
    insert run as one, in one snapshot; it returns the subscribed endpoints left without
    a delivery because the ids made ahead ran out (NULL when none was).

    It is an INSERT at the top, not a SELECT with writing CTEs: the unit of work begins
    its transaction before any statement but a plain SELECT (LazyTransaction), and a
    SELECT would be run alone, committed outside the change's transaction."""
    ids = delivery_ids()
    subscribed = subscribed_endpoints()
    made = _deliveries_made(subscribed, ids)
    left = (
        select(func.array_agg(subscribed.c.id))
        .where(subscribed.c.n > func.cardinality(ids))
        .scalar_subquery()
    )
    return insert(events).values(_event_binds()).add_cte(made).returning(left)


def event_with_deliveries_after(subscribed: Any, ids: Any, after: Any, prefix: str = "") -> Any:
    """The event and its deliveries as `_add_with_deliveries` writes them, written only
    when the CTE `after` (another write of the same statement) returned a row: the
    event's INSERT, which returns the event's id, or no row when it wrote nothing.
    `subscribed` and `ids` are the statement's own (`subscribed_endpoints`,
    `delivery_ids`); every subscribed endpoint must have its id: the caller makes `after`
    write nothing when they do not all fit (no delivery is left for a second statement)."""
    binds = _event_binds(prefix)
    return (
        insert(events)
        .from_select(list(binds), select(*binds.values()).select_from(after))
        .add_cte(_deliveries_made(subscribed, ids, after, prefix))
        .returning(events.c.id)
    )


def event_params(event: Event, fan_out: FanOut, prefix: str = "") -> dict[str, Any]:
    """The parameters of the event's write with its deliveries, the ids made ahead."""
    params = _event_params(event) | {
        "types": [ALL_EVENTS, event.type],
        "exclude": fan_out.exclude_endpoint,
        "delivery_ids": [fan_out.new_id() for _ in range(_IDS_AHEAD)],
        "due": fan_out.due,
    }
    return {f"{prefix}{name}": value for name, value in params.items()} if prefix else params


_ADD_WITH_DELIVERIES = _add_with_deliveries()


async def _add_with_deliveries_now(connection: Any, event: Event, fan_out: FanOut) -> None:
    params = event_params(event, fan_out)
    left = (await connection.execute(_ADD_WITH_DELIVERIES, params)).scalar_one()
    if left:
        await SqlDeliveries.add_rows(
            connection, [fan_out.delivery(event, endpoint_id) for endpoint_id in left]
        )


# The event's parameters in a chain: none named as a column, which an UPDATE of the
# statement (the intent's, the key's) would otherwise also SET.
_IN_CHAIN = "ev_"


def _event_after_gate() -> tuple[Any, Callable[[Any], tuple[list[Any], Any]]]:
    """The event with its deliveries as a follower of a held chain: the gate writes only
    when every subscribed endpoint has a delivery id made ahead."""
    subscribed, ids = subscribed_endpoints(_IN_CHAIN), delivery_ids(_IN_CHAIN)
    fits = select(func.count()).select_from(subscribed).scalar_subquery() <= func.cardinality(ids)

    def after(gate: Any) -> tuple[list[Any], Any]:
        made = event_with_deliveries_after(subscribed, ids, gate, _IN_CHAIN).cte("event_made")
        return [subscribed, made], made

    return fits, after


class EventAdded(Follower):
    """The outbox's event with its deliveries, held back to follow a chain's gate."""

    tables = frozenset({"events", "webhook_deliveries"})

    def __init__(self, event: Event, fan_out: FanOut) -> None:
        self.event = event
        self.fan_out = fan_out
        self._params: dict[str, Any] | None = None

    async def send(self, connection: Any) -> None:
        await _add_with_deliveries_now(connection, self.event, self.fan_out)

    def params(self) -> dict[str, Any]:
        if self._params is None:  # the delivery ids made ahead: once
            self._params = event_params(self.event, self.fan_out, _IN_CHAIN)
        return self._params

    def built(self) -> tuple[Any, Callable[[Any], tuple[list[Any], Any]]]:
        return _event_after_gate()


def _event_params(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "merchant_id": event.merchant_id,
        "type": event.type,
        "created": event.created,
        "livemode": event.livemode,
        "data": dict(event.data),
        "request_id": event.request.id,
        "idempotency_key": event.request.idempotency_key,
    }


# The worker's relays run these several times a second whatever the load: built once.
_UNMARKED = {
    mark.name: select(events)
    .where(mark.is_(None))
    .order_by(events.c.created, events.c.id)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
    for mark in (events.c.streamed_at, events.c.notified_at)
}
# The ids as one array (= ANY), not an IN list: one statement text whatever the batch's
# size, so one prepared statement and one plan (an IN list made a statement per size).
_MARK = {
    mark.name: update(events)
    .where(events.c.id == any_(bindparam("ids", type_=ARRAY(Text))))
    .values({mark.name: bindparam("at")})
    for mark in (events.c.streamed_at, events.c.notified_at)
}


class SqlEvents:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, event: Event) -> None:
        await self._conn.execute(_INSERT_EVENT, _event_params(event))

    async def add_with_deliveries(self, event: Event, fan_out: FanOut) -> None:
        if hold(self._conn, EventAdded(event, fan_out)):
            return  # one statement with the held writes (adapters/sql/held.py)
        await _add_with_deliveries_now(self._conn, event, fan_out)

    async def get(self, merchant_id: str, event_id: str) -> Event | None:
        t = events.c
        row = (
            (
                await self._conn.execute(
                    select(events).where(t.id == event_id, t.merchant_id == merchant_id)
                )
            )
            .mappings()
            .first()
        )
        return _event(row) if row is not None else None

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
        t = events.c
        query = select(events).where(t.merchant_id == merchant_id, t.livemode == livemode)
        if starting_after is not None:
            query = query.where(t.id < starting_after)
        if where.types:
            query = query.where(t.type.in_(where.types))
        if where.created_gte is not None:
            query = query.where(t.created >= where.created_gte)
        if where.created_lte is not None:
            query = query.where(t.created <= where.created_lte)
        if where.delivery_success is not None:
            d = webhook_deliveries.c
            undelivered = exists().where(
                d.event_id == t.id, d.status != DeliveryStatus.SUCCEEDED.value
            )
            query = query.where(~undelivered if where.delivery_success else undelivered)
        query = query.order_by(t.id.desc()).limit(limit)
        return [_event(row) for row in (await self._conn.execute(query)).mappings()]

    async def created_since(
        self, merchant_id: str, livemode: bool, since: datetime, *, limit: int
    ) -> Sequence[Event]:
        t = events.c
        query = (
            select(events)
            .where(t.merchant_id == merchant_id, t.livemode == livemode, t.created >= since)
            .order_by(t.created, t.id)
            .limit(limit)
        )
        return [_event(row) for row in (await self._conn.execute(query)).mappings()]

    async def prune(self, created_before: datetime, *, limit: int) -> int:
        t = events.c
        old = (
            select(t.id)
            .where(t.created < created_before)
            .order_by(t.created)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        result = await self._conn.execute(delete(events).where(t.id.in_(old)))
        return int(result.rowcount or 0)

    async def claim_unstreamed(self, *, limit: int) -> Sequence[Event]:
        return await self._claim_unmarked(events.c.streamed_at, limit)

    async def mark_streamed(self, event_ids: Sequence[str], at: datetime) -> None:
        await self._mark(event_ids, streamed_at=at)

    async def claim_unnotified(self, *, limit: int) -> Sequence[Event]:
        return await self._claim_unmarked(events.c.notified_at, limit)

    async def mark_notified(self, event_ids: Sequence[str], at: datetime) -> None:
        await self._mark(event_ids, notified_at=at)

    async def _claim_unmarked(self, mark: Any, limit: int) -> Sequence[Event]:
        """Oldest first, locked (SKIP LOCKED), the events a consumer has not marked yet (its
        partial index: ix_events_unstreamed, ix_events_unnotified)."""
        rows = (await self._conn.execute(_UNMARKED[mark.name], {"limit": limit})).mappings()
        return [_event(row) for row in rows]

    async def _mark(self, event_ids: Sequence[str], **stamp: datetime) -> None:
        if event_ids:
            ((column, at),) = stamp.items()
            await self._conn.execute(_MARK[column], {"ids": list(event_ids), "at": at})


class SqlWebhookEndpoints:
    def __init__(self, connection: AsyncConnection, box: SecretBox) -> None:
        self._conn = connection
        self._box = box

    def _endpoint(self, row: RowMapping) -> WebhookEndpoint:
        previous = row["previous_secret"]
        return WebhookEndpoint(
            id=row["id"],
            merchant_id=row["merchant_id"],
            url=row["url"],
            enabled_events=tuple(row["enabled_events"]),
            livemode=row["livemode"],
            secret=self._box.open(row["secret"]),
            created=row["created"],
            description=row["description"],
            disabled=row["disabled"],
            previous_secret=self._box.open(previous) if previous is not None else None,
            previous_secret_expires_at=row["previous_secret_expires_at"],
            failing_since=row["failing_since"],
            disabled_reason=row["disabled_reason"],
            version=row["version"],
            signature_scheme=SignatureScheme(row["signature_scheme"]),
        )

    def _values(self, endpoint: WebhookEndpoint) -> dict[str, Any]:
        return {
            "url": endpoint.url,
            "enabled_events": list(endpoint.enabled_events),
            "secret": self._box.seal(endpoint.secret),
            "previous_secret": (
                self._box.seal(endpoint.previous_secret) if endpoint.previous_secret else None
            ),
            "previous_secret_expires_at": endpoint.previous_secret_expires_at,
            "description": endpoint.description,
            "disabled": endpoint.disabled,
            "disabled_reason": endpoint.disabled_reason,
            "failing_since": endpoint.failing_since,
        }

    async def add(self, endpoint: WebhookEndpoint) -> None:
        await self._conn.execute(
            insert(webhook_endpoints).values(
                id=endpoint.id,
                merchant_id=endpoint.merchant_id,
                livemode=endpoint.livemode,
                created=endpoint.created,
                version=endpoint.version,
                signature_scheme=endpoint.signature_scheme.value,
                **self._values(endpoint),
            )
        )

    async def get(
        self, merchant_id: str, endpoint_id: str, *, for_update: bool = False
    ) -> WebhookEndpoint | None:
        t = webhook_endpoints.c
        query = select(webhook_endpoints).where(t.id == endpoint_id, t.merchant_id == merchant_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).mappings().first()
        return self._endpoint(row) if row is not None else None

    async def list(
        self, merchant_id: str, livemode: bool, *, limit: int, starting_after: str | None = None
    ) -> Sequence[WebhookEndpoint]:
        t = webhook_endpoints.c
        query = select(webhook_endpoints).where(
            t.merchant_id == merchant_id, t.livemode == livemode
        )
        if starting_after is not None:
            query = query.where(t.id < starting_after)
        query = query.order_by(t.id.desc()).limit(limit)
        return [self._endpoint(row) for row in (await self._conn.execute(query)).mappings()]

    async def subscribed(
        self, merchant_id: str, livemode: bool, event_type: str
    ) -> Sequence[WebhookEndpoint]:
        params = {
            "merchant_id": merchant_id,
            "livemode": livemode,
            "types": [ALL_EVENTS, event_type],
        }
        rows = (await self._conn.execute(_SUBSCRIBED, params)).mappings()
        return [self._endpoint(row) for row in rows]

    async def count(self, merchant_id: str) -> int:
        t = webhook_endpoints.c
        query = (
            select(func.count()).select_from(webhook_endpoints).where(t.merchant_id == merchant_id)
        )
        return int((await self._conn.execute(query)).scalar_one())

    async def update(self, endpoint: WebhookEndpoint) -> None:
        t = webhook_endpoints.c
        statement = (
            update(webhook_endpoints)
            .where(t.id == endpoint.id, t.version == endpoint.version)
            .values(version=t.version + 1, **self._values(endpoint))
            .returning(t.version)
        )
        new_version = (await self._conn.execute(statement)).scalar_one_or_none()
        if new_version is None:
            raise Conflict(
                "The webhook endpoint was changed concurrently.", reason="CONCURRENT_UPDATE"
            )
        endpoint.version = new_version

    async def delete(self, merchant_id: str, endpoint_id: str) -> bool:
        t = webhook_endpoints.c
        result = await self._conn.execute(
            delete(webhook_endpoints).where(t.id == endpoint_id, t.merchant_id == merchant_id)
        )
        return bool(result.rowcount)


def _delivery(row: RowMapping, prefix: str = "") -> Delivery:
    return Delivery(
        id=row[prefix + "id"],
        event_id=row[prefix + "event_id"],
        endpoint_id=row[prefix + "endpoint_id"],
        merchant_id=row[prefix + "merchant_id"],
        status=DeliveryStatus(row[prefix + "status"]),
        created=row[prefix + "created"],
        next_attempt_at=row[prefix + "next_attempt_at"],
        attempts=row[prefix + "attempts"],
        lease_until=row[prefix + "lease_until"],
        lease_token=row[prefix + "lease_token"],
        last_status_code=row[prefix + "last_status_code"],
        last_error=row[prefix + "last_error"],
    )


def _attempt(row: RowMapping) -> DeliveryAttempt:
    return DeliveryAttempt(
        id=row["id"],
        delivery_id=row["delivery_id"],
        event_id=row["event_id"],
        endpoint_id=row["endpoint_id"],
        merchant_id=row["merchant_id"],
        attempted_at=row["attempted_at"],
        request_headers=row["request_headers"],
        status_code=row["status_code"],
        response_body=row["response_body"],
        latency_ms=row["latency_ms"],
        error=row["error"],
    )


# The dispatcher's claim runs every 0.1 s when idle and once per batch when busy: its
# statements are built once (see _INSERT_EVENT).
_DUE = (
    select(webhook_deliveries.c.id, webhook_deliveries.c.endpoint_id)
    .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
    .where(
        webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
        webhook_deliveries.c.next_attempt_at <= bindparam("now"),
        (webhook_deliveries.c.lease_until.is_(None))
        | (webhook_deliveries.c.lease_until <= bindparam("now")),
        webhook_endpoints.c.disabled.is_(False),
    )
    .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(of=webhook_deliveries, skip_locked=True)
)
_LEASED = (
    select(webhook_deliveries.c.endpoint_id, func.count())
    .where(
        webhook_deliveries.c.endpoint_id.in_(bindparam("endpoint_ids", expanding=True)),
        webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
        webhook_deliveries.c.lease_until > bindparam("now"),
    )
    .group_by(webhook_deliveries.c.endpoint_id)
)
_LEASE = (
    update(webhook_deliveries)
    .where(webhook_deliveries.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        attempts=webhook_deliveries.c.attempts + 1,
        lease_until=bindparam("lease_until"),
        lease_token=bindparam("token"),
    )
    .returning(*webhook_deliveries.c)
)
_EVENTS_BY_ID = select(events).where(events.c.id.in_(bindparam("ids", expanding=True)))
_ENDPOINTS_BY_ID = select(webhook_endpoints).where(
    webhook_endpoints.c.id.in_(bindparam("ids", expanding=True))
)


class SqlDeliveries:
    def __init__(self, connection: AsyncConnection, box: SecretBox) -> None:
        self._conn = connection
        self._endpoints = SqlWebhookEndpoints(connection, box)

    async def add_many(self, deliveries: Sequence[Delivery]) -> None:
        await self.add_rows(self._conn, deliveries)

    @staticmethod
    async def add_rows(connection: AsyncConnection, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        await connection.execute(
            insert(webhook_deliveries),
            [
                {
                    "id": d.id,
                    "event_id": d.event_id,
                    "endpoint_id": d.endpoint_id,
                    "merchant_id": d.merchant_id,
                    "status": d.status.value,
                    "created": d.created,
                    "next_attempt_at": d.next_attempt_at,
                    "attempts": d.attempts,
                }
                for d in deliveries
            ],
        )

    async def get(
        self, merchant_id: str, delivery_id: str, *, for_update: bool = False
    ) -> Delivery | None:
        t = webhook_deliveries.c
        query = select(webhook_deliveries).where(t.id == delivery_id, t.merchant_id == merchant_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).mappings().first()
        return _delivery(row) if row is not None else None

    async def claim_due(
        self, now: datetime, lease_until: datetime, token: str, *, limit: int, per_endpoint: int
    ) -> Sequence[Claimed]:
        candidates = {"now": now, "limit": limit * _OVERSCAN}
        rows = (await self._conn.execute(_DUE, candidates)).all()
        if not rows:
            return []
        endpoint_ids = list({r.endpoint_id for r in rows})
        leased: dict[str, int] = {
            endpoint_id: count
            for endpoint_id, count in (
                await self._conn.execute(_LEASED, {"endpoint_ids": endpoint_ids, "now": now})
            ).all()
        }
        chosen: list[str] = []
        for row in rows:
            if len(chosen) >= limit:
                break
            if leased.get(row.endpoint_id, 0) >= per_endpoint:
                continue
            leased[row.endpoint_id] = leased.get(row.endpoint_id, 0) + 1
            chosen.append(row.id)
        if not chosen:
            return []
        lease = {"ids": chosen, "lease_until": lease_until, "token": token}
        updated = (await self._conn.execute(_LEASE, lease)).mappings().all()
        deliveries = {row["id"]: _delivery(row) for row in updated}
        event_ids = list({x.event_id for x in deliveries.values()})
        event_rows = (await self._conn.execute(_EVENTS_BY_ID, {"ids": event_ids})).mappings()
        by_event = {row["id"]: _event(row) for row in event_rows}
        endpoint_ids = list({x.endpoint_id for x in deliveries.values()})
        endpoint_rows = (
            await self._conn.execute(_ENDPOINTS_BY_ID, {"ids": endpoint_ids})
        ).mappings()
        by_endpoint = {row["id"]: self._endpoints._endpoint(row) for row in endpoint_rows}
        return [
            Claimed(
                deliveries[i],
                by_event[deliveries[i].event_id],
                by_endpoint[deliveries[i].endpoint_id],
            )
            for i in chosen
        ]

    async def update(self, delivery: Delivery) -> None:
        t = webhook_deliveries.c
        await self._conn.execute(
            update(webhook_deliveries)
            .where(t.id == delivery.id)
            .values(
                status=delivery.status.value,
                next_attempt_at=delivery.next_attempt_at,
                attempts=delivery.attempts,
                lease_until=delivery.lease_until,
                lease_token=delivery.lease_token,
                last_status_code=delivery.last_status_code,
                last_error=delivery.last_error,
            )
        )

    async def add_attempt(self, attempt: DeliveryAttempt) -> None:
        # The delivery may be gone (its endpoint deleted, its event pruned) while the
        # request was in flight: then there is nothing left to log it against.
        t = webhook_deliveries.c
        await self._conn.execute(
            insert(webhook_delivery_attempts).from_select(
                [
                    "id",
                    "delivery_id",
                    "event_id",
                    "endpoint_id",
                    "merchant_id",
                    "attempted_at",
                    "request_headers",
                    "status_code",
                    "response_body",
                    "latency_ms",
                    "error",
                ],
                select(
                    _literal(attempt.id),
                    t.id,
                    t.event_id,
                    t.endpoint_id,
                    t.merchant_id,
                    _literal(attempt.attempted_at, webhook_delivery_attempts.c.attempted_at.type),
                    _literal(
                        dict(attempt.request_headers),
                        webhook_delivery_attempts.c.request_headers.type,
                    ),
                    _literal(attempt.status_code, webhook_delivery_attempts.c.status_code.type),
                    _literal(_clean(attempt.response_body)),
                    _literal(attempt.latency_ms, webhook_delivery_attempts.c.latency_ms.type),
                    _literal(_clean(attempt.error)),
                ).where(t.id == attempt.delivery_id),
            )
        )

    async def list(
        self,
        merchant_id: str,
        *,
        event_id: str | None = None,
        endpoint_id: str | None = None,
        limit: int,
        starting_after: str | None = None,
    ) -> Sequence[Delivery]:
        t = webhook_deliveries.c
        query = select(webhook_deliveries).where(t.merchant_id == merchant_id)
        if event_id is not None:
            query = query.where(t.event_id == event_id)
        if endpoint_id is not None:
            query = query.where(t.endpoint_id == endpoint_id)
        if starting_after is not None:
            query = query.where(t.id < starting_after)
        query = query.order_by(t.id.desc()).limit(limit)
        return [_delivery(row) for row in (await self._conn.execute(query)).mappings()]

    async def attempts(
        self, merchant_id: str, delivery_ids: Sequence[str]
    ) -> Sequence[DeliveryAttempt]:
        if not delivery_ids:
            return []
        t = webhook_delivery_attempts.c
        query = (
            select(webhook_delivery_attempts)
            .where(t.merchant_id == merchant_id, t.delivery_id.in_(list(delivery_ids)))
            .order_by(t.id)
        )
        return [_attempt(row) for row in (await self._conn.execute(query)).mappings()]

    async def requeue_failed(
        self, merchant_id: str, endpoint_id: str, since: datetime, now: datetime
    ) -> int:
        t = webhook_deliveries.c
        result = await self._conn.execute(
            update(webhook_deliveries)
            .where(
                and_(
                    t.merchant_id == merchant_id,
                    t.endpoint_id == endpoint_id,
                    t.status == DeliveryStatus.FAILED.value,
                    t.created >= since,
                )
            )
            .values(status=DeliveryStatus.PENDING.value, next_attempt_at=now)
        )
        return int(result.rowcount or 0)


def _clean(text: str) -> str:
    """PostgreSQL text takes no NUL byte; a response body may carry one."""
    return text.replace("\x00", "\ufffd")


def _literal(value: object, type_: Any = None) -> Any:
    return literal(value, type_) if type_ is not None else literal(value)
