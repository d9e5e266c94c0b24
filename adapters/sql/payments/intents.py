"""Payment intents and their append-only events on PostgreSQL: SQLAlchemy Core, one round
trip each.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from operator import attrgetter
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    RowMapping,
    Select,
    bindparam,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.driver_read import DriverRead, first
from adapters.sql.errors import already_exists
from adapters.sql.held import Gate, hold
from adapters.sql.risk import assessment_json, assessment_of
from adapters.sql.rows import insert_rows
from adapters.sql.tables import (
    payment_events,
    payment_intents,
)
from core.payments.model import (
    CONFIRMABLE,
    CaptureMethod,
    EventKind,
    NextAction,
    PaymentError,
    PaymentEvent,
    PaymentIntent,
    PaymentMethodDetails,
    Status,
)
from core.shared.errors import VersionMoved

# --- payment intents -------------------------------------------------------------------

# Everything a later save may change; id, merchant, livemode, created and the client
# secret are fixed when the intent is created.
_MUTABLE_INTENT_COLUMNS = (
    "amount",
    "currency",
    "status",
    "capture_method",
    "payment_method_types",
    "description",
    "metadata",
    "receipt_email",
    "return_url",
    "success_url",
    "cancel_url",
    "amount_capturable",
    "amount_received",
    "amount_refunded",
    "payment_method",
    "last_payment_error",
    "next_action",
    "attempts",
    "canceled_at",
    "cancellation_reason",
    "latest_attempt",
    "failed_attempts",
    "capture_before",
    "risk",
    "payment_method_details",
)


def _json_of(value: Any) -> dict[str, Any] | None:
    # What asdict gives for these flat dataclasses of strings (PaymentError, NextAction,
    # PaymentMethodDetails), at a fraction of its cost: asdict recurses and deep-copies.
    return dict(vars(value)) if value is not None else None


# Each mutable column's value from the intent, one function a column: a narrowed write
# computes (and asyncpg encodes) only the columns it sends.
_VALUE_OF: dict[str, Callable[[PaymentIntent], Any]] = {
    "amount": attrgetter("amount"),
    "currency": attrgetter("currency"),
    "status": lambda i: i.status.value,
    "capture_method": lambda i: i.capture_method.value,
    "payment_method_types": lambda i: list(i.payment_method_types),
    "description": attrgetter("description"),
    "metadata": lambda i: dict(i.metadata),
    "receipt_email": attrgetter("receipt_email"),
    "return_url": attrgetter("return_url"),
    "success_url": attrgetter("success_url"),
    "cancel_url": attrgetter("cancel_url"),
    "amount_capturable": attrgetter("amount_capturable"),
    "amount_received": attrgetter("amount_received"),
    "amount_refunded": attrgetter("amount_refunded"),
    "payment_method": attrgetter("payment_method"),
    "last_payment_error": lambda i: _json_of(i.last_payment_error),
    "next_action": lambda i: _json_of(i.next_action),
    "attempts": attrgetter("attempts"),
    "canceled_at": attrgetter("canceled_at"),
    "cancellation_reason": attrgetter("cancellation_reason"),
    "latest_attempt": attrgetter("latest_attempt"),
    "failed_attempts": attrgetter("failed_attempts"),
    "capture_before": attrgetter("capture_before"),
    "risk": lambda i: assessment_json(i.risk),
    "payment_method_details": lambda i: _json_of(i.payment_method_details),
}
assert tuple(_VALUE_OF) == _MUTABLE_INTENT_COLUMNS
_PARAMETER = {name: f"v_{name}" for name in _MUTABLE_INTENT_COLUMNS}


def _intent_values(intent: PaymentIntent) -> dict[str, Any]:
    return {
        "id": intent.id,
        "merchant_id": intent.merchant_id,
        "client_secret": intent.client_secret,
        "livemode": intent.livemode,
        "created": intent.created,
        "version": intent.version,
    } | {name: value_of(intent) for name, value_of in _VALUE_OF.items()}


# --- what a change wrote: the columns it touched ---------------------------------------
#
# The adapter compares the intent with what it read (or last wrote) of it, rather than the
# model recording its changes: the model stays a plain dataclass whose callers assign
# fields and mutate its metadata in place, and no change is missed by a path that did not
# record it. What it read is kept per intent object with the version it was read at: the
# row at that id and version is that state, and the versioned WHERE makes the write apply
# only to it, so writing the columns that differ leaves exactly the intent in the row. An
# intent with nothing kept (built elsewhere, or its version moved) writes every column.


def sent_state(intent: PaymentIntent) -> tuple[Any, ...]:
    """The mutable fields, as compared later: the metadata copied (mutable in place). Taken
    with a write's parameters, it is what the row holds once that write succeeded."""
    state = [getattr(intent, name) for name in _MUTABLE_INTENT_COLUMNS]
    state[_METADATA] = dict(intent.metadata)
    return tuple(state)


_METADATA = _MUTABLE_INTENT_COLUMNS.index("metadata")
# What was read (or written) of each intent object: its weak reference (the entry goes
# with the object), its version then and its state.
_KNOWN: dict[int, tuple[weakref.ref[PaymentIntent], int, tuple[Any, ...]]] = {}


def _forget(key: int, ref: weakref.ref[PaymentIntent]) -> None:
    entry = _KNOWN.get(key)
    if entry is not None and entry[0] is ref:
        del _KNOWN[key]


def remember(intent: PaymentIntent, state: tuple[Any, ...] | None = None) -> None:
    """Keeps `state` (the intent's own by default: after a read) as the row holds it at
    the intent's version."""
    key = id(intent)
    entry = _KNOWN.get(key)
    ref = entry[0] if entry is not None and entry[0]() is intent else None
    if ref is None:
        ref = weakref.ref(intent, partial(_forget, key))
    _KNOWN[key] = (ref, intent.version, sent_state(intent) if state is None else state)


def _same(new: Any, old: Any) -> bool:
    # The type too: True == 1 and 1.0 == 1, but their JSON (and what a read gives) differ.
    return new is old or (type(new) is type(old) and new == old)


# The sets of columns written narrowly, each with its own statements (built once); past
# the bound, a write sends every column (the full statements are always there), so the
# statements stay few however the changes vary. A payment sees a handful.
MOST_COLUMN_SETS = 32
_ADMITTED: set[tuple[str, ...]] = {_MUTABLE_INTENT_COLUMNS}


def written_columns(intent: PaymentIntent) -> tuple[str, ...]:
    """The columns the intent's versioned update sends: those that differ from what was
    read or written at its version, in the table's order; every column when nothing is
    known of it, or the set is new once MOST_COLUMN_SETS were seen."""
    entry = _KNOWN.get(id(intent))
    if entry is None or entry[1] != intent.version or entry[0]() is not intent:
        return _MUTABLE_INTENT_COLUMNS
    old = entry[2]
    columns = tuple(
        name
        for index, name in enumerate(_MUTABLE_INTENT_COLUMNS)
        if not _same(getattr(intent, name), old[index])
    )
    if columns in _ADMITTED:
        return columns
    if len(_ADMITTED) >= MOST_COLUMN_SETS:
        return _MUTABLE_INTENT_COLUMNS
    _ADMITTED.add(columns)
    return columns


def intent_of(row: RowMapping) -> PaymentIntent:
    """The intent of a row, remembered as read (its next write sends what changed)."""
    error, action = row["last_payment_error"], row["next_action"]
    details = row["payment_method_details"]
    intent = PaymentIntent(
        id=row["id"],
        merchant_id=row["merchant_id"],
        amount=row["amount"],
        currency=row["currency"],
        status=Status(row["status"]),
        capture_method=CaptureMethod(row["capture_method"]),
        client_secret=row["client_secret"],
        livemode=row["livemode"],
        created=row["created"],
        payment_method_types=tuple(row["payment_method_types"]),
        description=row["description"],
        metadata=dict(row["metadata"]),
        receipt_email=row["receipt_email"],
        return_url=row["return_url"],
        success_url=row["success_url"],
        cancel_url=row["cancel_url"],
        amount_capturable=row["amount_capturable"],
        amount_received=row["amount_received"],
        amount_refunded=row["amount_refunded"],
        payment_method=row["payment_method"],
        last_payment_error=PaymentError(**error) if error is not None else None,
        next_action=NextAction(**action) if action is not None else None,
        attempts=row["attempts"],
        canceled_at=row["canceled_at"],
        cancellation_reason=row["cancellation_reason"],
        latest_attempt=row["latest_attempt"],
        failed_attempts=row["failed_attempts"],
        capture_before=row["capture_before"],
        risk=assessment_of(row["risk"]),
        payment_method_details=PaymentMethodDetails(**details) if details is not None else None,
        version=row["version"],
    )
    remember(intent)
    return intent


INTENT_COLUMNS = [c for c in payment_intents.c if c.name != "updated_at"]

# The hot reads, built once: SQLAlchemy then reuses their cache key and compiled form
# instead of building and hashing a new statement on every call.
_GET = select(*INTENT_COLUMNS).where(
    payment_intents.c.id == bindparam("intent_id"),
    payment_intents.c.merchant_id == bindparam("merchant_id"),
)
_GET_FOR_UPDATE = _GET.with_for_update()
# A GET's one statement: run by the driver itself outside a transaction (driver_read.py).
_GET_READ = DriverRead(_GET)
# A statement without values, run with a row of parameters: SQLAlchemy compiles it once
# for that set of columns and reuses it.
_INSERT = insert(payment_intents)


def _update(columns: tuple[str, ...]) -> Any:
    """The optimistic update of `columns` (the version must not have moved)."""
    return (
        update(payment_intents)
        .where(
            payment_intents.c.id == bindparam("b_id"),
            payment_intents.c.merchant_id == bindparam("b_merchant_id"),
            payment_intents.c.version == bindparam("b_version"),
        )
        .values(
            {name: bindparam(f"v_{name}") for name in columns}
            | {"version": payment_intents.c.version + 1, "updated_at": func.now()}
        )
        .returning(payment_intents.c.version)
    )


class ByColumns:
    """Statements built once per set of the intent's columns written (at most
    MOST_COLUMN_SETS of them, written_columns), on first use."""

    def __init__(self, build: Callable[[tuple[str, ...]], Any]) -> None:
        self._build = build
        self._built: dict[tuple[str, ...], Any] = {}

    def __getitem__(self, columns: tuple[str, ...]) -> Any:
        try:
            return self._built[columns]
        except KeyError:
            statement = self._built[columns] = self._build(columns)
            return statement


_UPDATE = ByColumns(_update)


# --- an intent's write with its new history lines, one statement -------------------------

# Every column but the identity: what a line sets.
_EVENT_COLUMNS = tuple(c.name for c in payment_events.c if not c.primary_key)


def _event_rows(events: Sequence[PaymentEvent]) -> list[dict[str, Any]]:
    return [
        {
            "payment_intent_id": e.payment_intent_id,
            "merchant_id": e.merchant_id,
            "from_status": e.from_status.value if e.from_status else None,
            "to_status": e.to_status.value,
            "actor": e.actor,
            "occurred_at": e.occurred_at,
            "kind": e.kind.value,
            "object_id": e.object_id,
            "amount": e.amount,
        }
        for e in events
    ]


def _event_arrays(events: Sequence[PaymentEvent]) -> dict[str, list[Any]]:
    """The lines as one array per column, the parameters of `_lines_after`."""
    rows = _event_rows(events)
    return {f"e_{name}": [row[name] for row in rows] for name in _EVENT_COLUMNS}


def _lines_after(written: Any) -> Any:
    """INSERT INTO payment_events of the lines given as one array per column, in their
    order (the identity column numbers them as the multi-row INSERT did), once per row of
    `written`: the CTE of the intent's own write, which returns its row when it wrote it
    and none when it did not (a stale version), so the lines exist only with that write.

    The intent's write is a CTE and this INSERT the top level, not a SELECT: the unit of
    work begins its transaction before any statement but a plain SELECT (LazyTransaction).
    The lines' foreign key to the intent is checked at the statement's end."""
    e = payment_events.c
    line = (
        func.unnest(*(bindparam(f"e_{name}", type_=ARRAY(e[name].type)) for name in _EVENT_COLUMNS))
        .table_valued(*_EVENT_COLUMNS, with_ordinality="n")
        .render_derived(name="line")
    )
    return insert(payment_events).from_select(
        list(_EVENT_COLUMNS),
        select(*(line.c[name] for name in _EVENT_COLUMNS))
        .select_from(written.join(line, true()))
        .order_by(line.c.n),
    )


# A new intent with its first lines (the create's), and the versioned update with the
# lines of the change (every step of a payment): one statement each instead of two. The
# update's returns the intent's new version on each line, no row when the version moved.
_ADD_WITH_EVENTS = _lines_after(
    insert(payment_intents)
    .values({c.name: bindparam(c.name, type_=c.type) for c in INTENT_COLUMNS})
    .returning(payment_intents.c.id)
    .cte("made")
)


def _intent_made(guard: ColumnElement[bool] | None) -> tuple[list[CTE], CTE, list[Any]]:
    """A new intent with its first lines as a chain's gate (the create's, adapters/sql/
    held.py): the intent's insert, written only when `guard` holds, returns its id."""
    row = select(*(bindparam(f"i_{c.name}", type_=c.type) for c in INTENT_COLUMNS))
    made = (
        insert(payment_intents)
        .from_select([c.name for c in INTENT_COLUMNS], row if guard is None else row.where(guard))
        .returning(payment_intents.c.id)
        .cte("intent_made")
    )
    return [made, _lines_after(made).cte("lines")], made, [select(made.c.id).scalar_subquery()]


def _update_with_events(columns: tuple[str, ...]) -> Any:
    saved = _update(columns).cte("saved")
    return _lines_after(saved).returning(select(saved.c.version).scalar_subquery())


_UPDATE_WITH_EVENTS = ByColumns(_update_with_events)


# --- another row's write with its intent's, one statement ------------------------------


def intent_saved(columns: tuple[str, ...], guard: ColumnElement[bool] | None = None) -> CTE:
    """The intent's optimistic update of `columns` (`_update`, every condition of it,
    written_columns gives them) as the CTE
    `saved`, which returns the new version when it wrote the intent and no row when it did
    not. `guard` is one more condition on that write: the other row's own optimistic check
    (its version has not moved), so the intent is written only with it.

    The other row's write reads FROM `saved` (attempts.py, refunds.py): it writes only
    when the intent was written, so a statement whose intent's write matched no row writes
    nothing at all, and one whose guard failed writes nothing either."""
    statement = _update(columns)
    saved: CTE = (statement if guard is None else statement.where(guard)).cte("saved")
    return saved


def lines_of(saved: CTE) -> CTE:
    """The history lines of the intent's change (`_event_arrays`), once `saved` wrote it."""
    lines: CTE = _lines_after(saved).cte("lines")
    return lines


def with_lines(statement: Any, saved: CTE) -> Any:
    """`statement` (the other row's write from `saved`) that also writes the history lines
    of the intent's change, given as `_event_arrays`, once `saved` wrote the intent."""
    return statement.add_cte(lines_of(saved))


def intent_params(
    intent: PaymentIntent, columns: tuple[str, ...], events: Sequence[PaymentEvent] = ()
) -> dict[str, Any]:
    """The parameters of `_update(columns)` (and of `saved`), with the lines' when there
    are any."""
    params = {_PARAMETER[name]: _VALUE_OF[name](intent) for name in columns}
    params |= {"b_id": intent.id, "b_merchant_id": intent.merchant_id, "b_version": intent.version}
    return params | _event_arrays(events) if events else params


def intent_written(intent: PaymentIntent, version: int, sent: tuple[Any, ...]) -> None:
    """The intent as its update left the row: at `version`, holding `sent` (its
    `sent_state` when the parameters were taken), and remembered so."""
    intent.version = version
    remember(intent, sent)


def intent_changed() -> VersionMoved:
    return VersionMoved("The payment intent was changed concurrently.")


async def _add(connection: Any, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()) -> None:
    try:
        if events:
            params = _intent_values(intent) | _event_arrays(events)
            await connection.execute(_ADD_WITH_EVENTS, params)
        else:
            await connection.execute(_INSERT, _intent_values(intent))
    except IntegrityError as error:
        raise already_exists(error, "Payment intent", intent.id) from error


class IntentAdded(Gate):
    """A new intent with its first lines, held back by the unit of work (held.py)."""

    tables = frozenset({"payment_intents", "payment_events"})

    def __init__(self, intent: PaymentIntent, events: Sequence[PaymentEvent]) -> None:
        self.intent = intent
        self.events = events

    async def send(self, connection: Any) -> None:
        await _add(connection, self.intent, self.events)

    def params(self) -> dict[str, Any]:
        params = {f"i_{name}": value for name, value in _intent_values(self.intent).items()}
        return params | _event_arrays(self.events)

    def written(self, guard: ColumnElement[bool] | None) -> tuple[list[CTE], CTE, list[Any]]:
        return _intent_made(guard)

    def failed(self, error: IntegrityError) -> Exception:
        return already_exists(error, "Payment intent", self.intent.id)


class SqlPaymentIntents:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()) -> None:
        # With its lines, held back: the outbox's event may join it (adapters/sql/held.py).
        if events and hold(self._conn, IntentAdded(intent, events)):
            return
        await _add(self._conn, intent, events)

    async def get(
        self, merchant_id: str, intent_id: str, *, for_update: bool = False
    ) -> PaymentIntent | None:
        params = {"intent_id": intent_id, "merchant_id": merchant_id}
        if for_update:
            row = (await self._conn.execute(_GET_FOR_UPDATE, params)).mappings().first()
        else:
            row = await first(self._conn, _GET_READ, params)
        return intent_of(row) if row is not None else None

    async def by_id(self, intent_id: str) -> PaymentIntent | None:
        query = select(*INTENT_COLUMNS).where(payment_intents.c.id == intent_id)
        row = (await self._conn.execute(query)).mappings().first()
        return intent_of(row) if row is not None else None

    async def list(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        status: Status | None = None,
        livemode: bool | None = None,
    ) -> Sequence[PaymentIntent]:
        t = payment_intents.c
        query = select(*INTENT_COLUMNS).where(t.merchant_id == merchant_id)
        if livemode is not None:
            query = query.where(t.livemode.is_(livemode))
        if status is not None:
            query = query.where(t.status == status.value)
        if starting_after is not None:
            query = query.where(t.id < starting_after)
        query = query.order_by(t.id.desc()).limit(limit)
        return [intent_of(row) for row in (await self._conn.execute(query)).mappings()]

    async def update(self, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()) -> None:
        columns = written_columns(intent)
        params, sent = intent_params(intent, columns, events), sent_state(intent)
        if events:
            statement = _UPDATE_WITH_EVENTS[columns]
            new_version = (await self._conn.execute(statement, params)).scalar()
        else:
            statement = _UPDATE[columns]
            new_version = (await self._conn.execute(statement, params)).scalar_one_or_none()
        if new_version is None:
            raise intent_changed()
        intent_written(intent, new_version, sent)

    async def update_many(self, intents: Sequence[PaymentIntent]) -> None:
        if not intents:
            return
        t = payment_intents.c
        # One executemany (asyncpg pipelines it); the rows are locked by this transaction.
        statement = (
            update(payment_intents)
            .where(t.id == bindparam("b_id"))
            .values(version=t.version + 1, updated_at=func.now())
        )
        rows = []
        for intent in intents:
            values = _intent_values(intent)
            rows.append({"b_id": intent.id} | {n: values[n] for n in _MUTABLE_INTENT_COLUMNS})
        sent = [sent_state(intent) for intent in intents]
        await self._conn.execute(statement, rows)
        for intent, state in zip(intents, sent, strict=True):
            intent_written(intent, intent.version + 1, state)

    async def _claim(self, query: Select[Any]) -> Sequence[PaymentIntent]:
        rows = await self._conn.execute(query.with_for_update(skip_locked=True))
        return [intent_of(row) for row in rows.mappings()]

    async def claim_unconfirmed(
        self, created_before: datetime, *, limit: int
    ) -> Sequence[PaymentIntent]:
        t = payment_intents.c
        return await self._claim(
            select(*INTENT_COLUMNS)
            .where(t.status.in_([s.value for s in CONFIRMABLE]), t.created < created_before)
            .order_by(t.created, t.id)
            .limit(limit)
        )

    async def claim_capture_expired(self, now: datetime, *, limit: int) -> Sequence[PaymentIntent]:
        t = payment_intents.c
        return await self._claim(
            select(*INTENT_COLUMNS)
            .where(t.status == Status.REQUIRES_CAPTURE.value, t.capture_before <= now)
            .order_by(t.capture_before, t.id)
            .limit(limit)
        )


# --- payment events --------------------------------------------------------------------


class SqlPaymentEvents:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def append(self, events: Sequence[PaymentEvent]) -> None:
        if not events:
            return
        # One multi-row INSERT: the identity column keeps the order they were given in.
        await insert_rows(self._conn, payment_events, _event_rows(events))

    async def for_intent(self, merchant_id: str, intent_id: str) -> Sequence[PaymentEvent]:
        t = payment_events.c
        columns = (t.payment_intent_id, t.merchant_id, t.from_status, t.to_status, t.actor)
        query = (
            select(*columns, t.occurred_at, t.kind, t.object_id, t.amount)
            .where(t.merchant_id == merchant_id, t.payment_intent_id == intent_id)
            .order_by(t.id)
        )
        return [
            PaymentEvent(
                payment_intent_id=row.payment_intent_id,
                merchant_id=row.merchant_id,
                from_status=Status(row.from_status) if row.from_status else None,
                to_status=Status(row.to_status),
                actor=row.actor,
                occurred_at=row.occurred_at,
                kind=EventKind(row.kind),
                object_id=row.object_id,
                amount=row.amount,
            )
            for row in await self._conn.execute(query)
        ]
