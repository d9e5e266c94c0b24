"""Values written by a statement compiled once (asyncpg, with the arguments of
adapters/sql/arguments.py) are stored as SQLAlchemy stores them: JSONB's None as the JSON
null (SQL NULL only where the column says none_as_null), empty arrays, arrays holding
NULL, enums by their names."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Enum, Integer, MetaData, Table, Text, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.prebuilt import prebuilt
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.payments.model import Status

_metadata = MetaData()
_values = Table(
    "test_prebuilt_values",
    _metadata,
    Column("id", Text, primary_key=True),
    Column("doc", JSONB, nullable=True),
    Column("doc_or_null", JSONB(none_as_null=True), nullable=True),
    Column("tags", ARRAY(Text), nullable=True),
    Column("numbers", ARRAY(Integer), nullable=True),
    Column("status", Enum(Status, native_enum=False), nullable=True),
)
_INSERT = insert(_values)

_CASES: list[dict[str, Any]] = [
    {"doc": None, "doc_or_null": None, "tags": [], "numbers": None, "status": Status.SUCCEEDED},
    {
        "doc": {"a": [1, None], "é": "ü"},
        "doc_or_null": {"x": None},
        "tags": ["a", None, "b"],
        "numbers": [1, None, 3],
        "status": Status.REQUIRES_CAPTURE,
    },
    {"doc": [], "doc_or_null": "null", "tags": [None], "numbers": [], "status": None},
    {"doc": "null", "doc_or_null": 0, "tags": None, "numbers": [[1, 2], [3, 4]], "status": None},
]

_STORED = text(
    "SELECT id, doc IS NULL AS doc_sql_null, jsonb_typeof(doc) AS doc_type, doc::text AS doc,"
    " doc_or_null IS NULL AS other_sql_null, doc_or_null::text AS doc_or_null,"
    " tags IS NULL AS tags_null, cardinality(tags) AS tags_count, tags::text AS tags,"
    " numbers::text AS numbers, status FROM test_prebuilt_values ORDER BY id"
)


async def test_values_are_stored_as_sqlalchemy_stores_them(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory, ids: RandomIds
) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_metadata.create_all)
    try:
        prefix = ids.new("pi")
        # Through SQLAlchemy: each case as its own execution, on its own connection.
        async with engine.begin() as connection:
            for n, case in enumerate(_CASES):
                await connection.execute(_INSERT, {"id": f"{prefix}_{n}_sqlalchemy"} | case)
        # Through the unit of work: the statement run twice is compiled once, on asyncpg.
        async with uow_factory() as uow:
            for _ in range(2):
                warm = {"id": ids.new("evt")} | _CASES[0]
                await uow.connection.execute(_INSERT, warm)
            for n, case in enumerate(_CASES):
                params = {"id": f"{prefix}_{n}_prebuilt"} | case
                assert prebuilt(_INSERT, params, engine.dialect) is not None
                await uow.connection.execute(_INSERT, params)
            await uow.commit()
        async with engine.connect() as connection:
            rows = [dict(row) for row in (await connection.execute(_STORED)).mappings()]
            read_back = {
                row.id: row
                for row in (await connection.execute(select(_values))).all()
                if row.id.startswith(prefix)
            }
        stored = {row["id"]: row for row in rows if row["id"].startswith(prefix)}
        for n, case in enumerate(_CASES):
            by_sqlalchemy = stored[f"{prefix}_{n}_sqlalchemy"]
            by_prebuilt = stored[f"{prefix}_{n}_prebuilt"]
            assert {k: v for k, v in by_prebuilt.items() if k != "id"} == {
                k: v for k, v in by_sqlalchemy.items() if k != "id"
            }
            back = read_back[f"{prefix}_{n}_prebuilt"]
            assert back.doc == case["doc"]
            assert back.tags == case["tags"]
            assert back.numbers == case["numbers"]
            assert back.status == case["status"]
        first = stored[f"{prefix}_0_prebuilt"]
        assert first["doc_sql_null"] is False and first["doc_type"] == "null"  # JSON null
        assert first["other_sql_null"] is True  # none_as_null: SQL NULL
        assert first["tags_null"] is False and first["tags_count"] == 0
        assert stored[f"{prefix}_1_prebuilt"]["tags"] == "{a,NULL,b}"
    finally:
        async with engine.begin() as connection:
            await connection.run_sync(_metadata.drop_all)
