"""The hottest statements, run through asyncpg itself.

A statement executed through SQLAlchemy pays, on every call, for its execution context,
the compiled-cache lookup, parameter processing, a greenlet hop per await and the result
object: about a tenth of a millisecond of Python on top of asyncpg's own work, measured
apart (docs/performance.md, "SQLAlchemy's per-execution cost"). A `DriverStatement` is
still built with SQLAlchemy Core and compiled by it, once per process, to the very SQL
text SQLAlchemy would send, with its parameters in order and SQLAlchemy's own bind
processors (JSON to text); the unit of work (`LazyTransaction.fetch`) runs it on the
same connection, inside the same transaction, through asyncpg's statement cache.

Only statements that return rows (SELECT, or a write with RETURNING) are run this way,
and they are the handful on every payment and GET: the rest stays on SQLAlchemy. The
rows are asyncpg Records, read by column name as SQLAlchemy's mappings are. An error is
raised as SQLAlchemy would raise it (a DBAPIError with the driver's error as `orig`),
so the callers' handling of lost races and outages is the same either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable


def plain_read(statement: Any) -> bool:
    """A SELECT that locks nothing: the same under READ COMMITTED inside a transaction or
    alone, since each statement there sees its own snapshot anyway."""
    return isinstance(statement, Select) and statement._for_update_arg is None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # (name, given, fixed value, bind processor) of each positional parameter, in order:
    # a parameter is given by the caller, or a literal SQLAlchemy bound itself
    # (`version + 1`).
    parameters: tuple[tuple[str, bool, Any, Callable[[Any], Any] | None], ...]


class DriverStatement:
    """A Core statement that returns rows, compiled once and run by asyncpg."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self.plain_read = plain_read(statement)
        table = getattr(statement, "table", None)  # INSERT, UPDATE, DELETE
        self.table: str | None = str(table.name) if table is not None else None
        self._compiled: _Compiled | None = None

    def compiled(self, dialect: Dialect) -> _Compiled:
        if self._compiled is None:
            compiled: Any = cast(Any, self.statement).compile(dialect=dialect)
            if compiled.positiontup is None:
                raise TypeError("a DriverStatement needs a positional (asyncpg) dialect")
            given = {name for name, bind in compiled.binds.items() if bind.required}
            fixed = compiled.construct_params(_check=False)
            processors = compiled._bind_processors
            self._compiled = _Compiled(
                compiled.string,
                tuple(
                    (name, name in given, fixed.get(name), processors.get(name))
                    for name in compiled.positiontup
                ),
            )
        return self._compiled


class Statements(Protocol):
    """What a repository with driver statements runs them on: the unit of work's
    connection (adapters/sql/unit_of_work.py, LazyTransaction)."""

    async def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any: ...

    async def fetch(
        self, statement: DriverStatement, params: Mapping[str, Any]
    ) -> Sequence[Any]: ...


class DriverConnection:
    """The unit of work's connection as asyncpg has it, kept in step with SQLAlchemy's
    own record of its transaction: a statement of a transaction runs after BEGIN, and
    SQLAlchemy's COMMIT or ROLLBACK ends it as if SQLAlchemy had run the statement."""

    def __init__(self, connection: AsyncConnection, adapted: Any) -> None:
        self._connection = connection
        self._adapted = adapted  # SQLAlchemy's adapter of the asyncpg connection
        self._asyncpg = adapted.driver_connection
        self._dialect = connection.dialect

    @classmethod
    async def of(cls, connection: AsyncConnection) -> DriverConnection:
        pooled = await connection.get_raw_connection()
        return cls(connection, pooled.dbapi_connection)

    async def fetch(
        self, statement: DriverStatement, params: Mapping[str, Any], *, in_transaction: bool
    ) -> Sequence[Any]:
        compiled = statement.compiled(self._dialect)
        args = []
        for name, given, fixed, process in compiled.parameters:
            value = params[name] if given else fixed
            args.append(value if process is None else process(value))
        adapted = self._adapted
        try:
            if in_transaction and adapted._transaction is None:
                # BEGIN as SQLAlchemy's cursor would send it, and SQLAlchemy's own
                # transaction begun, so that its commit() sends COMMIT.
                if not self._connection.in_transaction():
                    await self._connection.begin()
                async with adapted._execute_mutex:
                    await adapted._start_transaction()
            async with adapted._execute_mutex:
                rows: Sequence[Any] = await self._asyncpg.fetch(compiled.sql, *args)
            return rows
        except DBAPIError:
            raise
        except Exception as error:
            raise self._translated(error, compiled.sql, args) from error

    def _translated(self, error: Exception, sql: str, args: list[Any]) -> BaseException:
        """The error as SQLAlchemy raises it: the DBAPI adapter's exception (with the
        driver's SQLSTATE) wrapped in a DBAPIError subclass."""
        dbapi = self._dialect.loaded_dbapi
        try:
            self._adapted._handle_exception(error)
        except dbapi.Error as translated:
            return DBAPIError.instance(
                sql,
                args,
                translated,
                dbapi.Error,
                connection_invalidated=self._dialect.is_disconnect(translated, None, None),
                dialect=self._dialect,
            )
        except Exception as other:
            return other
        return error
