"""Statements built once (per row count, per set of columns) send what the statements
built per call sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Table, insert
from sqlalchemy.dialects.postgresql import asyncpg

from adapters.sql.rows import _compiled, insert_statement, row_parameters
from adapters.sql.tables import ledger_postings, payment_events

DIALECT = asyncpg.dialect()  # type: ignore[no-untyped-call]
NOW = datetime(2026, 12, 6, 23, 0, tzinfo=UTC)


def _postings(count: int) -> list[dict[str, object]]:
    return [
        {
            "entry_id": "je_1",
            "position": position,
            "account": f"merchant:acct_1:available{position}:usd",
            "merchant_id": "acct_1",
            "currency": "usd",
            "amount": 100 - position,
            "created": NOW,
        }
        for position in range(count)
    ]


def _events(count: int) -> list[dict[str, object]]:
    return [
        {
            "payment_intent_id": "pi_1",
            "merchant_id": "acct_1",
            "from_status": None if row == 0 else "PROCESSING",
            "to_status": "SUCCEEDED",
            "actor": "api",
            "occurred_at": NOW,
            "kind": "status_changed",
            "object_id": "",
            "amount": None if row == 0 else 2100,
        }
        for row in range(count)
    ]


@pytest.mark.parametrize("count", [1, 2, 4])
@pytest.mark.parametrize(
    ("table", "rows"), [(ledger_postings, _postings), (payment_events, _events)]
)
def test_the_same_sql_and_values_as_the_literal_form(
    table: Table, rows: Callable[[int], list[dict[str, object]]], count: int
) -> None:
    values = rows(count)
    columns = tuple(values[0])
    literal = insert(table).values(values).compile(dialect=DIALECT)
    built = insert_statement(table, columns, count).compile(dialect=DIALECT)

    assert built.string == literal.string
    sent = built.construct_params(row_parameters(columns, values))
    expected = literal.construct_params()
    assert built.positiontup is not None and literal.positiontup is not None
    assert [sent[k] for k in built.positiontup] == [expected[k] for k in literal.positiontup]
    # Compiled once: the same text, and the values in order as SQLAlchemy binds them.
    once = _compiled(table, columns, count, DIALECT)
    assert once.sql == literal.string
    assert once.arguments(row_parameters(columns, values)) == [
        expected[k] for k in literal.positiontup
    ]
    assert _compiled(table, columns, count, DIALECT) is once
    # Typed per column, as the literal form's: the bound values are processed alike.
    assert [p.type.__class__ for p in built.binds.values()] == [
        p.type.__class__ for p in literal.binds.values()
    ]


def test_one_statement_object_per_row_count() -> None:
    columns = tuple(_events(1)[0])
    first = insert_statement(payment_events, columns, 3)
    assert insert_statement(payment_events, columns, 3) is first
    assert insert_statement(payment_events, columns, 2) is not first


def test_no_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one row"):
        insert_statement(payment_events, ("merchant_id",), 0)


def test_a_versioned_update_sends_what_the_one_built_per_call_sent() -> None:
    from sqlalchemy import update

    from adapters.sql.vault.repositories import _versioned_update
    from adapters.sql.vault.tables import tokens

    values = {
        "status": "used",
        "ciphertext": None,
        "key_id": None,
        "key_version": None,
        "used_at": NOW,
    }
    c = tokens.c
    per_call = (
        update(tokens)
        .where(c.id == "tok_1", c.merchant_id == "acct_1", c.version == 3)
        .values({**values, "version": c.version + 1})
        .returning(c.version)
        .compile(dialect=DIALECT)
    )
    built = _versioned_update(tokens, tuple(values)).compile(dialect=DIALECT)

    assert built.string == per_call.string
    sent = built.construct_params(
        {f"v_{name}": value for name, value in values.items()}
        | {"w_id": "tok_1", "w_merchant_id": "acct_1", "w_version": 3}
    )
    expected = per_call.construct_params()
    assert built.positiontup is not None and per_call.positiontup is not None
    assert [sent[k] for k in built.positiontup] == [expected[k] for k in per_call.positiontup]
    assert _versioned_update(tokens, tuple(values)) is _versioned_update(tokens, tuple(values))
