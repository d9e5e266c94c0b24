"""A statement compiled once: its named parameters turned into asyncpg's positional
arguments, as SQLAlchemy turns them (adapters/sql/driver_read.py, adapters/sql/prebuilt.py).

Two things make it cheaper than a loop over the parameters calling each bind processor,
without changing any argument asyncpg gets:

- The values are taken from the parameters in one call (`operator.itemgetter`); only the
  parameters that have a bind processor are then processed, by position.
- Where SQLAlchemy's processor would hand asyncpg a value it is given, or one fixed value,
  the value is passed without calling it (`passing`):
  - a JSON/JSONB parameter's `None` is the processor's own answer for `None`, asked once
    (for a column that is not `none_as_null`, the text `null`: the JSON null, which the
    engine's JSONB codec, SQLAlchemy's, sends as such; never SQL NULL);
  - an ARRAY parameter of one dimension whose items have no processor (text, integers,
    times: asyncpg encodes them itself) given a `list`: SQLAlchemy's processor answers a
    copy of the list, equal item for item, which asyncpg encodes the same; a list of
    lists, a tuple or any other value still goes through the processor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.types import JSON, TypeDecorator, TypeEngine

Processor = Callable[[Any], Any] | None


def _one(name: str) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    def get(params: Mapping[str, Any]) -> tuple[Any, ...]:
        return (params[name],)

    return get


Arguments = Callable[[Mapping[str, Any] | None], list[Any]]


def arguments(parameters: Sequence[tuple[str | None, Any, Processor]]) -> Arguments:
    """The positional arguments of a compiled statement, from the caller's parameters: each
    parameter in order, named (looked up in the caller's parameters) or fixed (a literal
    the statement binds), through its bind processor if it has one. A function made for
    the statement: without fixed values or processors, the values alone."""
    names = [name for name, _, _ in parameters if name is not None]
    get: Callable[[Mapping[str, Any]], Any] | None = (
        itemgetter(*names) if len(names) > 1 else _one(names[0]) if names else None
    )
    # Ascending positions: each is inserted where it stands among the named ones.
    fixed = tuple(
        (index, value) for index, (name, value, _) in enumerate(parameters) if name is None
    )
    processed = tuple(
        (index, process) for index, (_, _, process) in enumerate(parameters) if process is not None
    )
    if get is not None and not fixed and not processed:

        def values(params: Mapping[str, Any] | None) -> list[Any]:
            return list(get(params))  # type: ignore[arg-type]

        return values

    def processed_values(params: Mapping[str, Any] | None) -> list[Any]:
        arguments = [] if get is None else list(get(params))  # type: ignore[arg-type]
        for index, value in fixed:
            arguments.insert(index, value)
        for index, process in processed:
            arguments[index] = process(arguments[index])
        return arguments

    return processed_values


def passing(type_: TypeEngine[Any], process: Processor, dialect: Dialect) -> Processor:
    """`process` (SQLAlchemy's bind processor of `type_` on `dialect`), or one that gives
    the same value without calling it where it can (see the module's docstring)."""
    if process is None:
        return None
    impl = type_.dialect_impl(dialect)
    if isinstance(impl, TypeDecorator):
        return process
    if isinstance(impl, JSON):
        none = process(None)

        def json_value(value: Any) -> Any:
            return none if value is None else process(value)

        return json_value
    if (
        type(impl).bind_processor is PG_ARRAY.bind_processor
        and impl.dimensions in (None, 1)  # type: ignore[attr-defined]
        and impl.item_type.dialect_impl(dialect).bind_processor(dialect) is None  # type: ignore[attr-defined]
    ):
        flat = impl.dimensions == 1  # type: ignore[attr-defined]

        def array_value(value: Any) -> Any:
            # SQLAlchemy's processor answers list(value) for these: equal, item for item.
            if type(value) is list and (
                flat or not value or not isinstance(value[0], (list, tuple))
            ):
                return value
            return process(value)

        return array_value
    return process
