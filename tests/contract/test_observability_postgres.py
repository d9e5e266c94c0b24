"""On PostgreSQL: traced SQL carries statements with placeholders, never their parameters,
inside the unit of work's span; readiness says why when the schema is behind."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from adapters.sql.engine import create_engine
from adapters.sql.readiness import code_heads, schema_problem
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from tests.databases import fresh_database

PAN = "4242424242424242"


async def test_sql_spans_hold_statements_not_parameters(
    database_url: str, span_exporter: InMemorySpanExporter
) -> None:
    engine = create_engine(database_url, pool_size=1)  # created traced
    try:
        async with SqlUnitOfWorkFactory(engine)() as uow:
            row = await uow.connection.execute(text("SELECT :number AS n"), {"number": PAN})
            assert row.scalar_one() == PAN
    finally:
        await engine.dispose()

    spans = span_exporter.get_finished_spans()
    unit = next(s for s in spans if s.name.startswith("unit_of_work"))
    sql = [s for s in spans if s.attributes and "db.statement" in s.attributes]
    assert any("SELECT $1" in str(s.attributes["db.statement"]) for s in sql if s.attributes)
    assert unit.context is not None
    assert all(s.parent is not None and s.parent.span_id == unit.context.span_id for s in sql)
    for span in spans:
        for value in (span.attributes or {}).values():
            assert PAN not in str(value), span.name


async def test_readiness_names_a_schema_behind_the_code(postgres_admin_url: str) -> None:
    async with fresh_database(postgres_admin_url, "paygate_ready") as url:
        engine = create_engine(url, pool_size=1)
        try:
            assert await schema_problem(engine, code_heads(), 2.0) == ""
            async with engine.begin() as connection:
                await connection.execute(text("UPDATE alembic_version SET version_num = '0007'"))
            problem = await schema_problem(engine, code_heads(), 2.0)
            assert "migrations behind" in problem and "0007" in problem
        finally:
            await engine.dispose()


async def test_readiness_fails_when_postgresql_does_not_answer() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none", pool_size=1)
    try:
        problem = await schema_problem(engine, code_heads(), 2.0)
    finally:
        await engine.dispose()
    assert problem.startswith("PostgreSQL unreachable")
