"""A statement compiled once gives asyncpg the very arguments SQLAlchemy's bind processors
give (adapters/sql/arguments.py): the pass-throughs for JSON's None and for flat lists,
and the arguments taken in one call."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import JSON, DateTime, Integer, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.types import TypeEngine

from adapters.sql.arguments import Processor, arguments, passing
from adapters.sql.events import event_params
from adapters.sql.payments.intents import (
    _GET_READ,
    _MUTABLE_INTENT_COLUMNS,
    _UPDATE_WITH_EVENTS,
    intent_params,
)
from adapters.sql.prebuilt import built_once
from adapters.sql.tables import metadata, payment_events

DIALECT = pg_asyncpg.dialect()  # type: ignore[no-untyped-call]


def _processor(type_: TypeEngine[Any]) -> Processor:
    return type_.dialect_impl(DIALECT).bind_processor(DIALECT)


def _column_types() -> list[TypeEngine[Any]]:
    """Every JSON and ARRAY type of the tables, and the arrays of the history lines'
    columns the intent's statements send (`_lines_after`)."""
    types: list[TypeEngine[Any]] = [
        column.type
        for table in metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, JSON | ARRAY)
    ]
    types += [ARRAY(column.type) for column in payment_events.columns]
    return types


TYPES = [
    *_column_types(),
    JSON(),
    JSONB(),
    JSONB(none_as_null=True),
    JSON(none_as_null=True),
    ARRAY(Text),
    ARRAY(Integer, dimensions=1),
    ARRAY(Integer, dimensions=2),
    ARRAY(DateTime(timezone=True)),
]

_scalars = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.datetimes(timezones=st.just(UTC)),
)
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)
_arrays = st.recursive(
    st.lists(_scalars, max_size=4) | st.tuples(_scalars, _scalars),
    lambda inner: st.lists(inner | _scalars, max_size=3),
    max_leaves=8,
)
_values = st.one_of(st.none(), _scalars, _json, _arrays)


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (a list is not a tuple)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _outcome(process: Processor, value: Any) -> tuple[str, Any]:
    try:
        return "value", value if process is None else process(value)
    except Exception as error:
        return "error", type(error)


@pytest.mark.parametrize("type_", TYPES, ids=repr)
@given(value=_values)
def test_a_value_passed_is_the_one_the_processor_gives(type_: TypeEngine[Any], value: Any) -> None:
    process = _processor(type_)
    passed = passing(type_, process, DIALECT)
    expected, got = _outcome(process, value), _outcome(passed, value)
    assert expected[0] == got[0]
    assert _same(expected[1], got[1])


def test_json_none_is_the_json_null_unless_none_as_null() -> None:
    assert passing(JSONB(), _processor(JSONB()), DIALECT)(None) == "null"  # type: ignore[misc]
    nulled = JSONB(none_as_null=True)
    assert passing(nulled, _processor(nulled), DIALECT)(None) is None  # type: ignore[misc]


def test_a_flat_list_of_plain_items_is_passed_as_it_is() -> None:
    array = ARRAY(Text)
    value = ["card", None, "upi"]
    assert passing(array, _processor(array), DIALECT)(value) is value  # type: ignore[misc]


def test_other_processors_are_kept() -> None:
    nested = ARRAY(Integer, dimensions=2)
    process = _processor(nested)
    assert passing(nested, process, DIALECT) is process

    def own(value: Any) -> Any:
        return value

    assert passing(Integer(), own, DIALECT) is own
    assert passing(Text(), None, DIALECT) is None


def _reference(
    parameters: list[tuple[str | None, Any, Processor]], params: Mapping[str, Any] | None
) -> list[Any]:
    """The loop Arguments replaced: each parameter in order."""
    arguments = []
    for name, fixed, process in parameters:
        value = fixed if name is None else params[name]  # type: ignore[index]
        arguments.append(value if process is None else process(value))
    return arguments


def _tagged(value: Any) -> Any:
    return ("processed", value)


_parameter = st.tuples(
    st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])),
    st.integers(),
    st.sampled_from([None, _tagged, str]),
)


@given(
    parameters=st.lists(_parameter, max_size=8),
    params=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers()),
)
def test_the_arguments_are_the_loops(
    parameters: list[tuple[str | None, Any, Processor]], params: dict[str, Any]
) -> None:
    expected = _outcome(lambda p: _reference(parameters, p), params)
    got = _outcome(arguments(parameters), params)
    assert expected == got


def _sqlalchemy_arguments(statement: Any, params: dict[str, Any]) -> list[Any]:
    """What SQLAlchemy's own compiled form gives the driver for `params`."""
    compiled: Any = statement.compile(dialect=DIALECT, column_keys=sorted(params))
    processors = compiled._bind_processors
    values = compiled.construct_params(params)
    return [
        processors[name](values[name]) if name in processors else values[name]
        for name in compiled.positiontup
    ]


_T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _lines(count: int) -> dict[str, list[Any]]:
    return {
        "e_payment_intent_id": ["pi_1"] * count,
        "e_merchant_id": ["acct_1"] * count,
        "e_from_status": [None, "PROCESSING", "REQUIRES_CAPTURE"][:count],
        "e_to_status": ["PROCESSING", "REQUIRES_CAPTURE", "SUCCEEDED"][:count],
        "e_actor": ["key_1"] * count,
        "e_occurred_at": [_T0 + timedelta(seconds=n) for n in range(count)],
        "e_kind": ["status_changed"] * count,
        "e_object_id": ["pa_1"] * count,
        "e_amount": [None, 100, 200][:count],
    }


def test_the_intents_statements_give_sqlalchemys_arguments() -> None:
    from tests.bench.create_cpu import a_create, create_statement

    created, lines, event, fan_out = a_create()
    create_sql, create = create_statement(created, lines, event, fan_out)
    assert create["i_last_payment_error"] is None  # a JSONB None: the JSON null
    form = built_once(create_sql, tuple(create), DIALECT)
    assert form is not None
    assert _same(form.arguments(create), _sqlalchemy_arguments(create_sql, create))
    assert event_params(event, fan_out)["delivery_ids"]  # an array among them

    for count in (1, 3):
        full = intent_params(created, _MUTABLE_INTENT_COLUMNS) | _lines(count)
        statement = _UPDATE_WITH_EVENTS[_MUTABLE_INTENT_COLUMNS]
        form = built_once(statement, tuple(full), DIALECT)
        assert form is not None
        assert _same(form.arguments(full), _sqlalchemy_arguments(statement, full))

    read = {"intent_id": "pi_1", "merchant_id": "acct_1"}
    assert _GET_READ.compiled(DIALECT).arguments(read) == _sqlalchemy_arguments(
        _GET_READ.statement, read
    )
