"""Seeding millions of rows fast, ending with exactly the schema the migrations made.

Maintaining a B-tree row by row is what makes a bulk INSERT slow once the indexes outgrow
shared_buffers: every row dirties a leaf page of each index, and the checkpoints that
the WAL volume triggers write each page again in full. `deferred` takes a table's
secondary indexes (the ones that back no constraint and enforce no uniqueness) and its
foreign keys off for the load, then puts back the same definitions (read from the
catalog, so they cannot drift from the migrations): each index built by one sort, each
foreign key added NOT VALID and then validated, which checks every row in one join
instead of one lookup per row. Primary keys, unique indexes, CHECK and NOT NULL
constraints and every trigger stay in force while the rows go in, and the tables stay
logged (nothing skips the WAL).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field

import asyncpg

# Sorting for an index build: more memory, fewer passes (per session, not the server's).
MAINTENANCE_WORK_MEM = "512MB"


@dataclass(frozen=True)
class Deferred:
    indexes: list[tuple[str, str]]  # (name, CREATE INDEX ...)
    foreign_keys: list[tuple[str, str, str]]  # (table, name, FOREIGN KEY ... REFERENCES ...)
    # Seconds of each step of putting them back ("index <name>", "add <key>", "validate
    # <key>"), filled on the way out: where a large load's time goes.
    seconds: dict[str, float] = field(default_factory=dict)


async def _deferrable(
    connection: asyncpg.Connection, tables: list[str], keep: Collection[str]
) -> Deferred:
    indexes = await connection.fetch(
        "SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = ANY($1::regclass[]) AND NOT i.indisunique "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
        "AND c.relname <> ALL($2::text[]) ORDER BY c.relname",
        tables,
        list(keep),
    )
    keys = await connection.fetch(
        "SELECT conrelid::regclass::text AS table_name, conname AS name, "
        "pg_get_constraintdef(oid) AS definition FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid = ANY($1::regclass[]) ORDER BY conname",
        tables,
    )
    return Deferred(
        [(r["name"], r["definition"]) for r in indexes],
        [(r["table_name"], r["name"], r["definition"]) for r in keys],
    )


@contextlib.asynccontextmanager
async def deferred(
    connection: asyncpg.Connection, tables: list[str], keep: Collection[str] = ()
) -> AsyncIterator[Deferred]:
    """Inside: `tables` without their secondary indexes (but those named in `keep`) and
    foreign keys. On the way out (also after an error) they are put back; a foreign key
    some row breaks fails there.

    `keep`: the indexes a server running during the load reads on a schedule. Without
    them each of its runs scans the growing table, and the runs get longer as it grows."""
    taken = await _deferrable(connection, tables, keep)
    async with connection.transaction():
        for table, name, _ in taken.foreign_keys:
            await connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in taken.indexes:
            await connection.execute(f'DROP INDEX "{name}"')
    try:
        yield taken
    finally:
        await _restore(connection, taken)


async def _restore(connection: asyncpg.Connection, taken: Deferred) -> None:
    async def timed(step: str, statement: str) -> None:
        started = time.monotonic()
        await connection.execute(statement)
        taken.seconds[step] = round(time.monotonic() - started, 1)

    # Kept for the validation too: it runs its check query with work_mem raised to
    # maintenance_work_mem (one hash join of the two tables instead of many batches).
    await connection.execute(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
    for name, definition in taken.indexes:
        await timed(f"index {name}", definition)
    # Every key is back (enforced on new rows) before any is validated, so a row that
    # breaks one leaves that key NOT VALID, not missing.
    for table, name, definition in taken.foreign_keys:
        await timed(
            f"add {name}", f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition} NOT VALID'
        )
    for table, name, _ in taken.foreign_keys:
        await timed(f"validate {name}", f'ALTER TABLE {table} VALIDATE CONSTRAINT "{name}"')
    await connection.execute("RESET maintenance_work_mem")
