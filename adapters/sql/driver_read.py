"""A plain read run by asyncpg itself, compiled once by SQLAlchemy.

A statement executed through SQLAlchemy pays, on every call, for its execution context,
the compiled-cache lookup, parameter processing, a greenlet hop and the result object:
about a tenth of a millisecond of Python on top of asyncpg's own work (docs/performance.md,
"The create's key, the unit of work's mode, the driver statements"). A GET of a payment
intent is that one statement.

A `DriverRead` is a SELECT that locks nothing, built with SQLAlchemy Core and compiled by
it once per process to the very SQL text SQLAlchemy would send, with its parameters in
order and SQLAlchemy's own bind and result processors. The unit of work
(`LazyTransaction.read`) runs it on its connection through asyncpg, alone before its
transaction begins and inside it after: the unit of work sends BEGIN, COMMIT and
ROLLBACK itself on asyncpg (adapters/sql/unit_of_work.py), so a statement there is in the
transaction exactly when one is open. On a bare SQLAlchemy connection (`first`), it runs
on asyncpg only while that connection is in autocommit with no transaction open, in
SQLAlchemy's record and in the driver's; otherwise SQLAlchemy runs it.

An error is raised as SQLAlchemy raises it (a DBAPIError with the driver's error as
`orig`), so the callers' handling of outages is the same either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.observability import tracing
from adapters.sql.arguments import Arguments, Processor, arguments, passing


def plain_read(statement: Any) -> bool:
    """A SELECT that locks nothing: the same under READ COMMITTED inside a transaction or
    alone, since each statement there sees its own snapshot anyway."""
    return isinstance(statement, Select) and statement._for_update_arg is None


@dataclass(frozen=True, slots=True)
class Compiled:
    sql: str
    # The positional parameters from the caller's, in order (a literal of the statement
    # is bound by SQLAlchemy itself), through their bind processors.
    arguments: Arguments
    # (key, result processor) of each column, in order.
    columns: tuple[tuple[str, Processor], ...]

    def rows(self, records: list[Any]) -> list[dict[str, Any]]:
        """asyncpg's records as the mappings SQLAlchemy's result gives."""
        columns = self.columns
        return [
            {
                key: value if process is None else process(value)
                for (key, process), value in zip(columns, record, strict=True)
            }
            for record in records
        ]


class DriverRead:
    """A SELECT that locks nothing, compiled once per dialect."""

    def __init__(self, statement: Select[Any]) -> None:
        if not plain_read(statement):
            raise TypeError("a DriverRead is a SELECT that locks nothing")
        self.statement = statement
        self._compiled: tuple[Dialect, Compiled] | None = None

    def compiled(self, dialect: Dialect) -> Compiled:
        if self._compiled is None or self._compiled[0] is not dialect:
            self._compiled = (dialect, compile_once(self.statement, dialect))
        return self._compiled[1]


def compile_once(statement: Any, dialect: Dialect) -> Compiled:
    """The SQL text SQLAlchemy sends for `statement` on `dialect`, with what it does to
    each parameter and each column of the result."""
    compiled: Any = statement.compile(dialect=dialect)
    if compiled.positiontup is None:
        raise TypeError("a statement compiled once needs a positional (asyncpg) dialect")
    given = {name for name, bind in compiled.binds.items() if bind.required}
    fixed = compiled.construct_params(_check=False)
    processors = compiled._bind_processors
    return Compiled(
        compiled.string,
        arguments(
            [
                (
                    name if name in given else None,
                    fixed.get(name),
                    passing(compiled.binds[name].type, processors.get(name), dialect),
                )
                for name in compiled.positiontup
            ]
        ),
        tuple(
            (column.keyname, column.type._cached_result_processor(dialect, None))
            for column in compiled._result_columns
        ),
    )


def translated(dialect: Dialect, adapted: Any, error: Exception, sql: str, args: list[Any]) -> Any:
    """The driver's error as SQLAlchemy raises it: the DBAPI adapter's exception (with the
    driver's SQLSTATE) wrapped in a DBAPIError subclass."""
    dbapi = dialect.loaded_dbapi
    try:
        adapted._handle_exception(error)
    except dbapi.Error as adapted_error:
        return DBAPIError.instance(
            sql,
            args,
            adapted_error,
            dbapi.Error,
            connection_invalidated=dialect.is_disconnect(adapted_error, None, None),
            dialect=dialect,
        )
    except Exception as other:
        return other
    return error


async def adapter_of(connection: AsyncConnection) -> Any:
    """SQLAlchemy's adapter of the connection's asyncpg connection."""
    return (await connection.get_raw_connection()).dbapi_connection


async def rows_alone(
    connection: AsyncConnection, adapted: Any, statement: DriverRead, params: Mapping[str, Any]
) -> list[dict[str, Any]] | None:
    """The rows of `statement` run by asyncpg, when the connection is in autocommit with
    no transaction open; None when it is not, and SQLAlchemy must run it."""
    if not adapted.autocommit or adapted._transaction is not None:
        return None
    dialect = connection.dialect
    compiled = statement.compiled(dialect)
    args = compiled.arguments(params)
    try:
        async with adapted._execute_mutex:
            if tracing.enabled():  # a span as SQLAlchemy's instrumentation makes one
                with tracing.phase("SELECT", {"db.statement": compiled.sql}):
                    records = await adapted.driver_connection.fetch(compiled.sql, *args)
            else:
                records = await adapted.driver_connection.fetch(compiled.sql, *args)
    except Exception as error:
        raise await failed(connection, adapted, error, compiled.sql, args) from error
    return compiled.rows(records)


async def failed(
    connection: AsyncConnection, adapted: Any, error: Exception, sql: str, args: list[Any]
) -> Exception:
    """The driver's `error` as SQLAlchemy raises it; a connection lost under it is
    invalidated, as SQLAlchemy does: not back to the pool, and the pool's older
    connections are replaced at their next checkout."""
    failure: Exception = translated(connection.dialect, adapted, error, sql, args)
    if isinstance(failure, DBAPIError) and failure.connection_invalidated:
        connection.sync_engine.pool._invalidate(None, failure, _checkin=False)  # type: ignore[arg-type]
        if not connection.invalidated:
            await connection.invalidate(failure)
    return failure


async def first(connection: Any, statement: DriverRead, params: Mapping[str, Any]) -> Any:
    """The first row of `statement`, as a mapping, or None: through the unit of work's
    `read` (LazyTransaction), through asyncpg on a connection in autocommit, or through
    SQLAlchemy."""
    read = getattr(connection, "read", None)
    if read is not None:
        rows = await read(statement, params)
    elif isinstance(connection, AsyncConnection) and not connection.in_transaction():
        rows = await rows_alone(connection, await adapter_of(connection), statement, params)
        if rows is None:
            return (await connection.execute(statement.statement, params)).mappings().first()
    else:
        return (await connection.execute(statement.statement, params)).mappings().first()
    return rows[0] if rows else None
