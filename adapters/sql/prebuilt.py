"""Statements built once, run by asyncpg inside the unit of work's own transaction.

The repositories build their hot statements once, at module level (an intent's insert,
locking read and versioned update, an attempt's locked pair, the Idempotency-Key's claim
and completion, the events', the ledger's, the vault's...). Executed through SQLAlchemy,
each call still pays for its execution context, the compiled-cache lookup, the parameter
processing, a greenlet hop and the result object: about a tenth of a millisecond of Python
on top of asyncpg's own work (docs/performance.md).

Here a statement object that the unit of work executes a second time is taken as built
once: it is compiled by SQLAlchemy, once per set of parameter names, to the very SQL text
SQLAlchemy sends, with SQLAlchemy's own bind and result processors (driver_read.compile_once),
and from then on run by asyncpg on the same connection, under the adapter's mutex. A
statement built per call is never seen twice (it is forgotten with its object), and goes
through SQLAlchemy as before. Whatever compile_once cannot reproduce exactly (a default
computed in Python, a parameter expanded per call, an implicit RETURNING, a type whose
result depends on the driver's column type...) is marked and left to SQLAlchemy.

This is safe only because the unit of work owns its transaction on asyncpg
(LazyTransaction in adapters/sql/unit_of_work.py): SQLAlchemy's connection stays in
autocommit and never begins or ends anything, so a statement here and one through
SQLAlchemy both run inside the one transaction BEGIN opened.

The result (DriverResult) offers what the repositories use, with SQLAlchemy's semantics:
`mappings()` (first, one, one_or_none, all, iteration), `rowcount`, `scalar_one`,
`scalar_one_or_none`, `scalar`; anything else is answered by a SQLAlchemy result built
over the same rows.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.exc import MultipleResultsFound, NoResultFound, ResourceClosedError

from adapters.observability import tracing
from adapters.sql.arguments import Arguments, Processor, arguments, passing

_ROWCOUNT = re.compile(r"(?:SELECT|UPDATE|DELETE|MERGE|INSERT \d+) (\d+)")


@dataclass(frozen=True, slots=True)
class Prebuilt:
    """A statement compiled once for one set of parameter names."""

    sql: str
    # The positional parameters from the named ones, through their bind processors.
    arguments: Arguments
    keys: tuple[str, ...]  # the result's columns; empty: the statement returns no rows
    processors: tuple[Processor, ...]
    returns_rows: bool
    # The span's name, as SQLAlchemy's instrumentation names a statement.
    verb: str

    def result(self, records: list[Any], status: str | None) -> DriverResult:
        if not self.returns_rows:
            match = _ROWCOUNT.match(status or "")
            return DriverResult(self.keys, [], int(match.group(1)) if match else -1, False)
        processors = self.processors
        if any(processors):
            rows = [
                tuple(
                    value if process is None else process(value)
                    for process, value in zip(processors, record, strict=True)
                )
                for record in records
            ]
        else:
            rows = [tuple(record) for record in records]
        return DriverResult(self.keys, rows, len(rows), True)


def _compiled(statement: Any, names: tuple[str, ...], dialect: Dialect) -> Prebuilt | None:
    """`statement` as SQLAlchemy would send it with parameters named `names`, or None when
    running it here could differ from SQLAlchemy's run in any way."""
    if not (getattr(statement, "is_select", False) or getattr(statement, "is_dml", False)):
        return None  # text(), DDL, function calls: their columns are known only at run time
    try:
        compiled: Any = statement.compile(dialect=dialect, column_keys=sorted(names))
        if (
            compiled.positiontup is None
            or compiled.insert_prefetch  # defaults computed in Python, per call
            or compiled.update_prefetch
            or compiled.post_compile_params  # IN lists, literals rendered per call
            or compiled.literal_execute_params
            or compiled.escaped_bind_names
            or getattr(compiled, "implicit_returning", None)  # inserted_primary_key
            or getattr(compiled, "postfetch_lastrowid", False)
        ):
            return None
        given = set(names)
        parameters = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            if bind.callable is not None:
                return None
            process = passing(bind.type, compiled._bind_processors.get(name), dialect)
            if bind.key in given:
                parameters.append((bind.key, None, process))
            elif name in given:
                parameters.append((name, None, process))
            elif bind.required:
                return None  # SQLAlchemy raises its own error for the missing value
            else:
                parameters.append((None, bind.value, process))
        columns = compiled._result_columns
        returns_rows = bool(columns)
        if statement.is_dml and bool(compiled.effective_returning) != returns_rows:
            return None
        keys = tuple(column.keyname for column in columns)
        if len(set(keys)) != len(keys):
            return None
        processors = tuple(
            column.type._cached_result_processor(dialect, None) for column in columns
        )
    except Exception:
        return None
    verb = compiled.string.lstrip().split(None, 1)[0].upper()
    return Prebuilt(compiled.string, arguments(parameters), keys, processors, returns_rows, verb)


class _Seen:
    __slots__ = ("dialect", "forms", "ref")

    def __init__(self, ref: weakref.ref[Any], dialect: Dialect) -> None:
        self.ref = ref
        self.dialect = dialect
        # Compiled forms by the parameters' names; None: not yet run twice.
        self.forms: dict[tuple[str, ...], Prebuilt | None] | None = None


# By id(): statement objects compare with SQL operators, not as dictionary keys. Each
# entry holds its statement weakly and goes with it.
_SEEN: dict[int, _Seen] = {}


def _forget(key: int, ref: weakref.ref[Any]) -> None:
    entry = _SEEN.get(key)
    if entry is not None and entry.ref is ref:
        del _SEEN[key]


def prebuilt(statement: Any, params: Mapping[str, Any] | None, dialect: Dialect) -> Prebuilt | None:
    """The compiled-once form of `statement` for `params`, when it is a statement object
    executed before (built once) that can run on asyncpg exactly as SQLAlchemy runs it."""
    key = id(statement)
    entry = _SEEN.get(key)
    if entry is None or entry.ref() is not statement or entry.dialect is not dialect:
        try:
            ref = weakref.ref(statement, partial(_forget, key))
        except TypeError:
            return None
        _SEEN[key] = _Seen(ref, dialect)
        return None  # first sight: SQLAlchemy runs it
    forms = entry.forms
    if forms is None:
        forms = entry.forms = {}
    names = tuple(params) if params else ()
    try:
        return forms[names]
    except KeyError:
        form = forms[names] = _compiled(statement, names, dialect)
        return form


class DriverResult:
    """The rows (or row count) of a statement run by asyncpg, as SQLAlchemy's result
    offers them to the repositories."""

    __slots__ = ("_keys", "_returns_rows", "_rows", "_sqlalchemy", "rowcount")

    def __init__(
        self, keys: tuple[str, ...], rows: list[tuple[Any, ...]], rowcount: int, returns_rows: bool
    ) -> None:
        self._keys = keys
        self._rows = rows
        self._returns_rows = returns_rows
        self.rowcount = rowcount
        self._sqlalchemy: Any = None

    def _rows_returned(self) -> list[tuple[Any, ...]]:
        if not self._returns_rows:
            raise ResourceClosedError(
                "This result object does not return rows. It has been closed automatically."
            )
        return self._rows

    def mappings(self) -> _Mappings:
        keys = self._keys
        return _Mappings([dict(zip(keys, row, strict=True)) for row in self._rows_returned()])

    def scalar_one(self) -> Any:
        rows = self._rows_returned()
        if not rows:
            raise NoResultFound("No row was found when one was required")
        if len(rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return rows[0][0]

    def scalar_one_or_none(self) -> Any:
        rows = self._rows_returned()
        if len(rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return rows[0][0] if rows else None

    def scalar(self) -> Any:
        rows = self._rows_returned()
        return rows[0][0] if rows else None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._as_sqlalchemy())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._as_sqlalchemy(), name)

    def _as_sqlalchemy(self) -> Any:
        if self._sqlalchemy is None:
            self._sqlalchemy = IteratorResult(
                SimpleResultMetaData(self._keys), iter(self._rows_returned())
            )
        return self._sqlalchemy


class _Mappings:
    __slots__ = ("_rows",)

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows

    def first(self) -> dict[str, Any] | None:
        return self._rows[0] if self._rows else None

    def one(self) -> dict[str, Any]:
        if len(self._rows) != 1:
            raise (NoResultFound if not self._rows else MultipleResultsFound)(
                "Expected exactly one row"
            )
        return self._rows[0]

    def one_or_none(self) -> dict[str, Any] | None:
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return self._rows[0] if self._rows else None

    def all(self) -> list[dict[str, Any]]:
        return list(self._rows)

    def fetchall(self) -> list[dict[str, Any]]:
        return list(self._rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._rows)


def built_once(statement: Any, names: tuple[str, ...], dialect: Dialect) -> Prebuilt | None:
    """`statement` compiled for parameters named `names`, as `prebuilt` compiles a
    statement it has seen run twice: for a caller whose statement is a module's constant,
    built once by construction (adapters/sql/idempotency.py). None when it cannot run on
    asyncpg exactly as SQLAlchemy runs it."""
    return _compiled(statement, names, dialect)


async def send(adapted: Any, form: Prebuilt, args: list[Any]) -> DriverResult:
    """`form` run by asyncpg on SQLAlchemy's `adapted` connection, under its mutex and, when
    tracing, in a span as SQLAlchemy's instrumentation makes one. Errors are the driver's:
    the caller translates them."""
    async with adapted._execute_mutex:
        if tracing.enabled():
            with tracing.phase(form.verb, {"db.statement": form.sql}):
                return await _sent(adapted.driver_connection, form, args)
        return await _sent(adapted.driver_connection, form, args)


async def _sent(driver: Any, form: Prebuilt, args: list[Any]) -> DriverResult:
    if form.returns_rows:
        return form.result(await driver.fetch(form.sql, *args), None)
    return form.result([], await driver.execute(form.sql, *args))
