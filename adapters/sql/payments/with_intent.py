"""A row written with its intent in one statement: an attempt (attempts.py) or a refund
(refunds.py), the intent's versioned update and the history lines of its change.

    WITH saved AS (UPDATE payment_intents ... WHERE id, merchant_id, version [AND the
                   row's own version check] RETURNING version),
         lines AS (INSERT INTO payment_events ... FROM saved ...)
    INSERT INTO <table> (...) SELECT $... FROM saved          -- a new row
    UPDATE <table> SET ... WHERE id, version AND EXISTS (SELECT FROM saved)  -- a change

The row's write reads FROM `saved`, which returns a row only when it wrote the intent, so
a stale intent writes nothing at all; the intent's write is guarded by the changed row's
version check in turn, so a stale row writes nothing either. Both rows or neither, in the
statement itself (docs/performance.md, "An attempt written with its intent").
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from functools import partial
from typing import Any

from sqlalchemy import CTE, ColumnElement, Table, and_, bindparam, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.held import Gate
from adapters.sql.payments.intents import (
    ByColumns,
    intent_changed,
    intent_params,
    intent_saved,
    intent_written,
    lines_of,
    sent_state,
    with_lines,
    written_columns,
)
from core.payments.model import PaymentEvent, PaymentIntent
from core.shared.errors import Conflict


def _added(table: Table, lines: bool, columns: tuple[str, ...]) -> Any:
    saved = intent_saved(columns)
    row = select(*(bindparam(f"n_{c.name}", type_=c.type) for c in table.c))
    statement = (
        insert(table)
        .from_select([c.name for c in table.c], row.select_from(saved))
        .returning(select(saved.c.version).scalar_subquery().label("intent_version"))
    )
    return with_lines(statement, saved) if lines else statement


def _added_as_gate(
    table: Table, columns: tuple[str, ...], guard: Any
) -> tuple[list[CTE], CTE, list[Any]]:
    """`_added` (with the intent's lines) as a held chain's gate (adapters/sql/held.py):
    the CTE `written`, the row's insert, returns one row when it wrote both rows."""
    saved = intent_saved(columns, guard)
    row = select(*(bindparam(f"n_{c.name}", type_=c.type) for c in table.c))
    written = (
        insert(table)
        .from_select([c.name for c in table.c], row.select_from(saved))
        .returning(select(saved.c.version).scalar_subquery().label("intent_version"))
        .cte("written")
    )
    return (
        [saved, lines_of(saved), written],
        written,
        [select(written.c.intent_version).scalar_subquery()],
    )


def _updated_row(
    table: Table,
    mutable: Sequence[str],
    columns: tuple[str, ...],
    guard: ColumnElement[bool] | None = None,
) -> tuple[CTE, Any]:
    """The intent's `saved` (guarded by the row's own version check, and `guard`) and the
    row's UPDATE from it, returning both new versions."""
    t = table.c
    held = table.alias("held")
    unmoved = exists().where(
        held.c.id == bindparam("b_w_id"), held.c.version == bindparam("b_w_version")
    )
    saved = intent_saved(columns, unmoved if guard is None else and_(unmoved, guard))
    statement = (
        update(table)
        .where(
            t.id == bindparam("b_w_id"),
            t.version == bindparam("b_w_version"),
            exists(select(saved.c.version)),  # only with its intent
        )
        .values({name: bindparam(f"w_{name}") for name in mutable} | {"version": t.version + 1})
        .returning(
            t.version.label("row_version"),
            select(saved.c.version).scalar_subquery().label("intent_version"),
        )
    )
    return saved, statement


def _updated(table: Table, mutable: Sequence[str], lines: bool, columns: tuple[str, ...]) -> Any:
    saved, statement = _updated_row(table, mutable, columns)
    return with_lines(statement, saved) if lines else statement


def _updated_as_gate(
    table: Table, mutable: Sequence[str], lines: bool, columns: tuple[str, ...], guard: Any
) -> tuple[list[CTE], CTE, list[Any]]:
    """`_updated` as a held chain's gate (adapters/sql/held.py): the CTE `written`, the
    row's update, returns one row when both rows were written."""
    saved, statement = _updated_row(table, mutable, columns, guard)
    written = statement.cte("written")
    ctes = [saved, written, *([lines_of(saved)] if lines else [])]
    versions = [select(written.c.row_version), select(written.c.intent_version)]
    return ctes, written, [version.scalar_subquery() for version in versions]


class WrittenWithIntent:
    """The statements of one table's rows written with their intent, built once: with and
    without the intent's lines, per set of the intent's columns written."""

    def __init__(self, table: Table, mutable: Sequence[str]) -> None:
        self.table = table
        self.mutable = tuple(mutable)
        self.added = {lines: ByColumns(partial(_added, table, lines)) for lines in (False, True)}
        self.updated = {
            lines: ByColumns(partial(_updated, table, self.mutable, lines))
            for lines in (False, True)
        }
        self._version = select(table.c.version).where(table.c.id == bindparam("row_id"))

    def held_update(
        self,
        values: Mapping[str, Any],
        intent: PaymentIntent,
        events: Sequence[PaymentEvent],
        changed: Callable[[], Conflict],
        wrote: Callable[[int], None] | None = None,
    ) -> UpdatedWithIntent:
        """`update` as a gate a unit of work may hold back (adapters/sql/held.py):
        `wrote` gets the row's new version once it is written."""
        return UpdatedWithIntent(self, values, intent, events, changed, wrote)

    def held_add(
        self,
        values: Mapping[str, Any],
        intent: PaymentIntent,
        events: Sequence[PaymentEvent],
        failed: Callable[[IntegrityError], Exception],
    ) -> AddedWithIntent:
        """`add` (with the intent's lines) as a gate a unit of work may hold back
        (adapters/sql/held.py); `failed` translates the database's integrity errors."""
        return AddedWithIntent(self, values, intent, events, failed)

    async def add(
        self,
        connection: AsyncConnection,
        values: Mapping[str, Any],
        intent: PaymentIntent,
        events: Sequence[PaymentEvent],
    ) -> None:
        """Inserts the row of `values` with the intent's update; the database's errors
        (a taken id, a second live attempt) are the caller's to translate."""
        columns, sent = written_columns(intent), sent_state(intent)
        params = intent_params(intent, columns, events) | {f"n_{k}": v for k, v in values.items()}
        result = await connection.execute(self.added[bool(events)][columns], params)
        row = result.mappings().first()
        if row is None:  # the intent's version had moved: nothing was written
            raise intent_changed()
        intent_written(intent, row["intent_version"], sent)

    async def update(
        self,
        connection: AsyncConnection,
        values: Mapping[str, Any],
        intent: PaymentIntent,
        events: Sequence[PaymentEvent],
        changed: Callable[[], Conflict],
    ) -> int:
        """Updates the row of `values` (at its `version`) with the intent's update; its
        new version. `changed` is the row's own conflict."""
        return await self._update(connection, self.held_update(values, intent, events, changed))

    async def _update(self, connection: AsyncConnection, held: UpdatedWithIntent) -> int:
        statement = self.updated[bool(held.events)][held.columns]
        row = (await connection.execute(statement, held.params())).mappings().first()
        if row is None:
            # Nothing was written. Which check failed, in the order of the two statements
            # this one replaces: the row's, then the intent's.
            row_id, version = held.values["id"], held.values["version"]
            now = (await connection.execute(self._version, {"row_id": row_id})).scalar()
            raise held.changed() if now != version else intent_changed()
        intent_written(held.intent, row["intent_version"], held.sent)
        return int(row["row_version"])


class _HeldWithIntent(Gate):
    """A row's write with its intent's, held back as the gate of a chain: its parameters
    (the intent's, with `row_params`) and the intent's state sent taken when held."""

    def __init__(
        self,
        statements: WrittenWithIntent,
        values: Mapping[str, Any],
        intent: PaymentIntent,
        events: Sequence[PaymentEvent],
        row_params: dict[str, Any],
    ) -> None:
        self._statements = statements
        self.values = values
        self.intent = intent
        self.events = events
        self.columns = written_columns(intent)
        self.sent = sent_state(intent)
        self._params = intent_params(intent, self.columns, events) | row_params
        self.tables = frozenset({statements.table.name, "payment_intents", "payment_events"})

    def params(self) -> dict[str, Any]:
        return self._params


class AddedWithIntent(_HeldWithIntent):
    """A new row with its intent's update and lines (WrittenWithIntent.add)."""

    def __init__(
        self,
        statements: WrittenWithIntent,
        values: Mapping[str, Any],
        intent: PaymentIntent,
        events: Sequence[PaymentEvent],
        failed: Callable[[IntegrityError], Exception],
    ) -> None:
        super().__init__(
            statements, values, intent, events, {f"n_{k}": v for k, v in values.items()}
        )
        self._failed = failed

    async def send(self, connection: Any) -> None:
        try:
            await self._statements.add(connection, self.values, self.intent, self.events)
        except IntegrityError as error:
            raise self._failed(error) from error

    def shape(self) -> Hashable:
        return (self.tables, "added", self.columns)

    def written(self, guard: ColumnElement[bool] | None) -> tuple[list[CTE], CTE, list[Any]]:
        return _added_as_gate(self._statements.table, self.columns, guard)

    def wrote(self, results: Sequence[Any]) -> None:
        intent_written(self.intent, results[0], self.sent)

    def failed(self, error: IntegrityError) -> Exception:
        return self._failed(error)


class UpdatedWithIntent(_HeldWithIntent):
    """A row's update with its intent's (WrittenWithIntent.update)."""

    def __init__(
        self,
        statements: WrittenWithIntent,
        values: Mapping[str, Any],
        intent: PaymentIntent,
        events: Sequence[PaymentEvent],
        changed: Callable[[], Conflict],
        wrote: Callable[[int], None] | None,
    ) -> None:
        row_params = {f"w_{n}": values[n] for n in statements.mutable}
        row_params |= {"b_w_id": values["id"], "b_w_version": values["version"]}
        super().__init__(statements, values, intent, events, row_params)
        self.changed = changed
        self._wrote = wrote

    async def send(self, connection: Any) -> None:
        version = await self._statements._update(connection, self)
        if self._wrote is not None:
            self._wrote(version)

    def shape(self) -> Hashable:
        return (self.tables, bool(self.events), self.columns)

    def written(self, guard: ColumnElement[bool] | None) -> tuple[list[CTE], CTE, list[Any]]:
        statements = self._statements
        return _updated_as_gate(
            statements.table, statements.mutable, bool(self.events), self.columns, guard
        )

    def wrote(self, results: Sequence[Any]) -> None:
        row_version, intent_version = results
        intent_written(self.intent, intent_version, self.sent)
        if self._wrote is not None:
            self._wrote(int(row_version))
