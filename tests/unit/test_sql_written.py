"""The tables a statement writes, which name a commit's fail points: a statement that
writes an attempt or a refund with its intent names every table it writes, so that a fail
point armed on any one of them fires (adapters/sql/written.py)."""

from __future__ import annotations

from sqlalchemy import select

from adapters.sql.payments import attempts, intents, refunds
from adapters.sql.tables import payment_attempts
from adapters.sql.written import tables_written

# Every column, and a narrowed write's: each set has its own statements.
COLUMN_SETS = (intents._MUTABLE_INTENT_COLUMNS, ("status", "amount_received"))


def test_an_attempt_written_with_its_intent_names_both_tables_and_the_lines() -> None:
    for lines, expected in ((False, set()), (True, {"payment_events"})):
        both = {"payment_attempts", "payment_intents"} | expected
        for columns in COLUMN_SETS:
            assert tables_written(attempts._WITH_INTENT.added[lines][columns]) == both
            assert tables_written(attempts._WITH_INTENT.updated[lines][columns]) == both


def test_a_refund_written_with_its_intent_names_both_tables() -> None:
    for lines in (False, True):
        both = {"refunds", "payment_intents"} | ({"payment_events"} if lines else set())
        for columns in COLUMN_SETS:
            assert tables_written(refunds._WITH_INTENT.added[lines][columns]) == both
            assert tables_written(refunds._WITH_INTENT.updated[lines][columns]) == both


def test_plain_writes_name_their_table_and_reads_none() -> None:
    assert tables_written(attempts._INSERT) == {"payment_attempts"}
    for columns in COLUMN_SETS:
        written = tables_written(intents._UPDATE_WITH_EVENTS[columns])
        assert written == {"payment_events", "payment_intents"}
        assert tables_written(intents._UPDATE[columns]) == {"payment_intents"}
    assert tables_written(select(payment_attempts)) == frozenset()
    assert tables_written("SELECT 1") == frozenset()
