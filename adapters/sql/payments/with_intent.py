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

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from sqlalchemy import Table, bindparam, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.payments.intents import (
    ByColumns,
    intent_changed,
    intent_params,
    intent_saved,
    intent_written,
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


def _updated(table: Table, mutable: Sequence[str], lines: bool, columns: tuple[str, ...]) -> Any:
    t = table.c
    held = table.alias("held")
    saved = intent_saved(
        columns,
        exists().where(
            held.c.id == bindparam("b_w_id"), held.c.version == bindparam("b_w_version")
        ),
    )
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
    return with_lines(statement, saved) if lines else statement


class WrittenWithIntent:
    """The statements of one table's rows written with their intent, built once: with and
    without the intent's lines, per set of the intent's columns written."""

    def __init__(self, table: Table, mutable: Sequence[str]) -> None:
        self._mutable = tuple(mutable)
        self.added = {lines: ByColumns(partial(_added, table, lines)) for lines in (False, True)}
        self.updated = {
            lines: ByColumns(partial(_updated, table, self._mutable, lines))
            for lines in (False, True)
        }
        self._version = select(table.c.version).where(table.c.id == bindparam("row_id"))

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
        columns, sent = written_columns(intent), sent_state(intent)
        params = intent_params(intent, columns, events)
        params |= {f"w_{n}": values[n] for n in self._mutable}
        params |= {"b_w_id": values["id"], "b_w_version": values["version"]}
        result = await connection.execute(self.updated[bool(events)][columns], params)
        row = result.mappings().first()
        if row is None:
            # Nothing was written. Which check failed, in the order of the two statements
            # this one replaces: the row's, then the intent's.
            now = (await connection.execute(self._version, {"row_id": values["id"]})).scalar()
            raise changed() if now != values["version"] else intent_changed()
        intent_written(intent, row["intent_version"], sent)
        return int(row["row_version"])
