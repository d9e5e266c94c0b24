"""The relay's mark of streamed events is one statement text whatever the batch's size."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql

from adapters.sql.events import _MARK


def test_the_mark_is_one_statement_for_every_batch_size() -> None:
    dialect = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
    texts = set()
    for size in (1, 3, 20):
        compiled = _MARK["streamed_at"].compile(dialect=dialect)
        params = compiled.construct_params({"ids": [f"evt_{i}" for i in range(size)], "at": None})
        assert params["ids"] == [f"evt_{i}" for i in range(size)]
        texts.add(str(compiled))
    (text,) = texts
    assert "= ANY (" in text and " IN (" not in text
