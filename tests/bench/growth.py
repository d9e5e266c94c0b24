"""The growth scenario: the same payment, and the balance read, with the books at 0, 1 M
and 10 M payments (--growth sets the sizes).

Seeding clones one real captured payment of the bench merchant inside PostgreSQL: its
intent row, its ledger entry and its postings, N times with new ids, in batches of
BATCH rows (INSERT ... SELECT over generate_series; no data crosses the socket, which is
faster than COPY from a client). Primary keys, CHECK constraints and every trigger (the
postings' balance check among them) are in force as the rows go in; the three tables'
secondary indexes and foreign keys are taken off for the load and put back after it
(tests/bench/bulk.py: each index built by one sort, each key validated over every row).
The indexes the gateway's worker reads during the load stay (KEEP).
The new ids end in the zero-padded clone number, so each primary key grows at its end. The cloned
postings belong to the bench merchant's accounts, so its balance read has N more
postings behind it; the worker's checkpoint job (every 60 s) must bring the read back to
a short tail, which the scenario waits for before it measures.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from tests.bench.bulk import deferred

BATCH = 500_000
TABLES = ["payment_intents", "ledger_entries", "ledger_postings"]
# The gateway's worker keeps running while the rows go in, and reads these every minute:
# the checkpoint job lists the accounts and sums their tails by (account, xid), the
# expiry and capture-deadline jobs claim intents by their partial indexes. Taken off,
# each run is a scan of the growing table (seven of ledger_postings per checkpoint run).
# Kept, they cost the load little: the cloned postings go to the template's three
# accounts, one xid a batch (the end of each account's range), and no cloned intent
# enters either partial index (the template has succeeded).
KEEP = [
    "ix_ledger_postings_account_xid",
    "ix_payment_intents_unconfirmed_created",
    "ix_payment_intents_capture_before",
]


async def _columns(connection: asyncpg.Connection, table: str) -> list[str]:
    rows = await connection.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = $1 AND is_generated = 'NEVER' "
        "ORDER BY ordinal_position",
        table,
    )
    return [r["column_name"] for r in rows]


def _clone(table: str, columns: list[str], replace: dict[str, str], where: str) -> str:
    """INSERT of `table`'s template rows (`where`) once per g in generate_series($1, $2),
    with the columns in `replace` computed (they may use g and $3, the run's tag)."""
    kept = [c for c in columns if c not in replace or replace[c]]
    values = [replace.get(c) or f't."{c}"' for c in kept]
    names = ", ".join(f'"{c}"' for c in kept)
    return (
        f"INSERT INTO {table} ({names}) SELECT {', '.join(values)} "
        f"FROM {table} t, generate_series($1::bigint, $2::bigint) g WHERE {where}"
    )


# The postings' balance trigger groups a batch's transition table (BATCH x 3 rows) by
# entry: with the default 4 MB that aggregation and the tuplestore spill to disk.
WORK_MEM = "256MB"


async def _wal_and_checkpoints(connection: asyncpg.Connection) -> tuple[int, int]:
    row = await connection.fetchrow(
        "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS wal, "
        "checkpoints_timed + checkpoints_req AS checkpoints FROM pg_stat_bgwriter"
    )
    return int(row["wal"]), int(row["checkpoints"])


async def seed(dsn: str, merchant_id: str, upto: int, have: int, tag: str) -> dict[str, Any]:
    """Adds (upto - have) cloned payments; answers where the time went: the seconds of
    the inserts, of each index and key put back, of the VACUUM, and the WAL written and
    the checkpoints taken meanwhile."""
    if upto <= have:
        return {"seconds": 0.0}
    started = time.monotonic()
    connection = await asyncpg.connect(dsn)
    try:
        template = await connection.fetchrow(
            "SELECT e.id AS entry, e.payment_intent_id AS intent FROM ledger_entries e "
            "WHERE e.merchant_id = $1 AND e.kind = 'CAPTURE' ORDER BY e.id LIMIT 1",
            merchant_id,
        )
        if template is None:
            raise RuntimeError("the growth scenario needs one captured payment to clone")
        intent_cols = await _columns(connection, "payment_intents")
        entry_cols = await _columns(connection, "ledger_entries")
        posting_cols = await _columns(connection, "ledger_postings")
        clone = "'_' || $3 || lpad(g::text, 10, '0')"
        new_intent = f"t.id || {clone}"
        new_entry = f"t.id || {clone}"
        intents = _clone("payment_intents", intent_cols, {"id": new_intent}, "t.id = $4")
        entries = _clone(
            "ledger_entries",
            entry_cols,
            {"id": new_entry, "payment_intent_id": f"t.payment_intent_id || {clone}"},
            "t.id = $4",
        )
        postings = _clone(
            "ledger_postings",
            posting_cols,
            # xid: the seeding transaction's own (the column default), as a real write's
            {"entry_id": f"t.entry_id || {clone}", "xid": ""},
            "t.entry_id = $4",
        )
        wal, checkpoints = await _wal_and_checkpoints(connection)
        await connection.execute(f"SET work_mem = '{WORK_MEM}'")
        steps = [
            ("payment_intents", intents, template["intent"]),
            ("ledger_entries", entries, template["entry"]),
            ("ledger_postings", postings, template["entry"]),
        ]
        inserts = dict.fromkeys(TABLES, 0.0)
        async with deferred(connection, TABLES, KEEP) as taken:
            for low in range(have + 1, upto + 1, BATCH):
                high = min(upto, low + BATCH - 1)
                async with connection.transaction():
                    for table, statement, source in steps:
                        at = time.monotonic()
                        await connection.execute(statement, low, high, tag, source)
                        inserts[table] += time.monotonic() - at
        await connection.execute("RESET work_mem")
        restored = time.monotonic()
        # A database that grew to this size in service has been vacuumed: the visibility
        # map set and the hint bits written, not left to the first reads and to an
        # autovacuum racing the measured run.
        await connection.execute(
            "VACUUM (ANALYZE) payment_intents, ledger_entries, ledger_postings"
        )
        vacuum_s = time.monotonic() - restored
        wal_after, checkpoints_after = await _wal_and_checkpoints(connection)
    finally:
        await connection.close()
    return {
        "seconds": round(time.monotonic() - started, 1),
        "insert_s": {table: round(s, 1) for table, s in inserts.items()},
        "restore_s": taken.seconds,
        "vacuum_s": round(vacuum_s, 1),
        "wal_gb": round((wal_after - wal) / 2**30, 2),
        "checkpoints": checkpoints_after - checkpoints,
    }


async def books(dsn: str, merchant_id: str) -> int:
    """The merchant's payments in the books already (a data folder kept from a run that
    seeded it, --keep-data): the seeding adds only what is missing."""
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM payment_intents WHERE merchant_id = $1", merchant_id
            )
        )
    finally:
        await connection.close()


# The first run after seeding 10 M payments sums 30 M postings (three accounts of ten
# million each): minutes on a loaded machine, and it must end before the measurement.
CHECKPOINT_LIMIT_S = 900.0


async def wait_for_checkpoint(
    dsn: str, merchant_id: str, limit_s: float = CHECKPOINT_LIMIT_S
) -> float | None:
    """Seconds until the worker has checkpointed the merchant's accounts past every posting
    they have now (the seeded ones included); None if it has not within `limit_s`."""
    connection = await asyncpg.connect(dsn)
    try:
        accounts = [
            r["account"]
            for r in await connection.fetch(
                "SELECT DISTINCT p.account FROM ledger_postings p JOIN ledger_entries e "
                "ON e.id = p.entry_id WHERE e.merchant_id = $1 AND e.kind = 'CAPTURE' "
                "AND e.id = (SELECT min(id) FROM ledger_entries WHERE merchant_id = $1 "
                "AND kind = 'CAPTURE')",
                merchant_id,
            )
        ]
        # Each account's newest posting by the (account, xid) index: one probe each, where
        # max(xid) over `account = ANY(...)` scans all 30 M postings at 10 M payments.
        newest = await connection.fetchval(
            "SELECT max(n.xid) FROM unnest($1::text[]) a(account), LATERAL (SELECT p.xid "
            "FROM ledger_postings p WHERE p.account = a.account ORDER BY p.xid DESC LIMIT 1) n",
            accounts,
        )
        started = time.monotonic()
        while time.monotonic() - started < limit_s:
            behind = await connection.fetchval(
                "SELECT count(*) FROM unnest($1::text[]) a(account) WHERE NOT EXISTS "
                "(SELECT 1 FROM ledger_checkpoints c WHERE c.account = a.account "
                "AND c.below_xid > $2)",
                accounts,
                newest,
            )
            if behind == 0:
                return round(time.monotonic() - started, 1)
            await asyncio.sleep(1.0)
        return None
    finally:
        await connection.close()


async def counts(dsn: str) -> dict[str, Any]:
    connection = await asyncpg.connect(dsn)
    try:
        return {
            "payment_intents": await connection.fetchval("SELECT count(*) FROM payment_intents"),
            "ledger_postings": await connection.fetchval("SELECT count(*) FROM ledger_postings"),
        }
    finally:
        await connection.close()
