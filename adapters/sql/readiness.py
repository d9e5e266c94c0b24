"""Whether this process can do its work on PostgreSQL: the server answers, and the
schema is at the newest revision this code knows (not behind a deploy that has not
migrated yet). Read by servers/runtime/readiness.py every few seconds."""

from __future__ import annotations

import asyncio

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.migrate import alembic_config


def code_heads() -> frozenset[str]:
    """The newest revision(s) of the migrations shipped with this code."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def schema_problem(engine: AsyncEngine, heads: frozenset[str], within: float) -> str:
    """'' when ready; otherwise what is wrong, in words for the log (no credentials)."""
    try:
        async with asyncio.timeout(within), engine.connect() as connection:
            found = await connection.execute(text("SELECT version_num FROM alembic_version"))
            revisions = frozenset(row[0] for row in found)
    except TimeoutError:
        return f"PostgreSQL did not answer within {within:g} s"
    except Exception as error:  # unreachable, refused, no such table: not ready, whatever it is
        return f"PostgreSQL unreachable or unmigrated ({type(error).__name__})"
    if revisions != heads:
        return f"schema at {sorted(revisions)}, this code needs {sorted(heads)}: migrations behind"
    return ""
