"""Multi-row INSERTs compiled once per row count.

A payment writes its history lines and its ledger postings with one multi-row INSERT each
(one statement: the postings' statement trigger checks that they balance). SQLAlchemy
caches no compiled form of a multi-row VALUES list, so built per call such a statement
was constructed and compiled afresh every time (0.3 to 0.9 ms of CPU a payment). Here it
is built once per (table, columns, row count), with a typed bound parameter per cell, and
compiled once per dialect to the very SQL text SQLAlchemy sends, with SQLAlchemy's own
bind processors. The unit of work runs it on asyncpg inside its transaction like any
other write (LazyTransaction.write_driver_sql); any other connection, through
SQLAlchemy as driver SQL: the same statement, the same round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Table, bindparam, insert
from sqlalchemy.engine import Dialect

from adapters.sql.driver_read import Compiled, compile_once

# A payment writes at most a handful of rows per statement; a larger batch (a bulk load)
# is still one statement, compiled for its count and kept among the most recent.
_KEPT = 64


@lru_cache(maxsize=_KEPT)
def insert_statement(table: Table, columns: tuple[str, ...], count: int) -> Insert:
    """INSERT INTO table (columns) VALUES (...), ... with `count` rows of parameters
    named `r<row>_<column>`."""
    if count < 1:
        raise ValueError("a multi-row INSERT needs at least one row")
    return insert(table).values(
        [
            {name: bindparam(f"r{row}_{name}", type_=table.c[name].type) for name in columns}
            for row in range(count)
        ]
    )


@lru_cache(maxsize=_KEPT)
def _compiled(table: Table, columns: tuple[str, ...], count: int, dialect: Dialect) -> Compiled:
    return compile_once(insert_statement(table, columns, count), dialect)


def row_parameters(columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The parameters of `insert_statement(table, columns, len(rows))` for `rows`."""
    return {f"r{row}_{name}": values[name] for row, values in enumerate(rows) for name in columns}


async def insert_rows(connection: Any, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """One INSERT of `rows`, which name the same columns in the same order, on the unit of
    work's connection (or any SQLAlchemy connection)."""
    columns = tuple(rows[0])
    compiled = _compiled(table, columns, len(rows), connection.dialect)
    args = tuple(compiled.arguments(row_parameters(columns, rows)))
    write = getattr(connection, "write_driver_sql", None)
    if write is not None:
        await write(table.name, compiled.sql, args)
    else:
        await connection.exec_driver_sql(compiled.sql, args)
