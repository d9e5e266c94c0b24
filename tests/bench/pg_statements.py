"""`python -m tests.bench.pg_statements --database-url URL [--payments N] [--creates M]`:
where PostgreSQL's time goes per full card payment (and per create), by statement.

Starts `paygate up` (one API process, the worker, the acquirer) on the PostgreSQL at URL,
which must load pg_stat_statements (shared_preload_libraries) and should track functions
(`track_functions = all`, for the triggers) — the embedded server's wheel ships neither,
so give it a server of its own, e.g. a PostgreSQL 15 from the distribution's packages in
a data folder of its own. After one warm payment and a drain, it resets the statistics,
runs N payments (tokenize, create, confirm with automatic capture) from `--clients`
threads, waits until the worker has relayed every event and every backend has flushed its
statistics, and prints per payment:

- each statement: calls, mean and total execution time, rows, WAL bytes and records,
  full-page images (pg_stat_statements; the worker's statements are among them);
- each table: rows inserted, updated (HOT or not), deleted, dead; index entries written
  (an insert or a non-HOT update writes one into every index, partial ones aside);
- each index: scans (an index written but never scanned is a candidate to drop);
- each function (the triggers): calls and time;
- WAL bytes (pg_current_wal_lsn before and after), records and full-page images.

With `--creates M`, the same for M creates of an intent afterwards. `--json FILE` writes
the figures for later comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.bench.operation_cpu import one_api_settings, payment, raise_limits
from tests.bench.payment_cpu import key
from tests.e2e.gateway import Gateway, start_gateway

_SETTLE_SECONDS = 12  # an idle backend flushes its statistics within 10 s (PG 15)


async def _connect(gateway: Gateway) -> asyncpg.Connection:
    return await asyncpg.connect(
        gateway.database_url.replace("postgresql+asyncpg://", "postgresql://")
    )


async def _execute(gateway: Gateway, sql: str) -> None:
    connection = await _connect(gateway)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _reset(gateway: Gateway) -> dict[str, int]:
    connection = await _connect(gateway)
    try:
        await connection.execute("SELECT pg_stat_statements_reset()")
        await connection.execute("SELECT pg_stat_reset()")
        return dict(
            await connection.fetchrow(
                "SELECT pg_current_wal_insert_lsn() - '0/0' AS lsn, wal_records, wal_fpi"
                " FROM pg_stat_wal"
            )
        )
    finally:
        await connection.close()


async def _quiet(gateway: Gateway) -> None:
    """Until the worker has relayed every event to the Redis Stream (its polls run
    whatever the load), then the time an idle backend takes to flush its statistics."""
    connection = await _connect(gateway)
    try:
        unstreamed = "SELECT EXISTS (SELECT FROM events WHERE streamed_at IS NULL)"
        for _ in range(600):  # at most 5 minutes
            if not await connection.fetchval(unstreamed):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(_SETTLE_SECONDS)
    finally:
        await connection.close()


async def _read(gateway: Gateway, before: dict[str, int], count: int) -> dict[str, Any]:
    connection = await _connect(gateway)
    try:
        await connection.execute("SELECT pg_stat_force_next_flush()")
        wal = await connection.fetchrow(
            "SELECT pg_current_wal_insert_lsn() - '0/0' AS lsn, wal_records, wal_fpi"
            " FROM pg_stat_wal"
        )
        statements = await connection.fetch(
            "SELECT query, calls, total_exec_time, rows, wal_bytes, wal_records, wal_fpi,"
            " shared_blks_hit, shared_blks_read, shared_blks_dirtied, total_plan_time"
            " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
            " WHERE datname = current_database()) AND query NOT LIKE '%pg_stat%'"
            " ORDER BY total_exec_time DESC"
        )
        tables = await connection.fetch(
            "SELECT t.schemaname || '.' || t.relname AS name, n_tup_ins, n_tup_upd,"
            " n_tup_hot_upd, n_tup_del, n_dead_tup,"
            " (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.relid) AS indexes,"
            " (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.relid"
            "  AND i.indpred IS NULL) AS full_indexes"
            " FROM pg_stat_user_tables t"
            " WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY 1"
        )
        indexes = await connection.fetch(
            "SELECT s.schemaname || '.' || s.relname AS tab, s.indexrelname AS name, idx_scan,"
            " i.indisunique AS is_unique, i.indpred IS NOT NULL AS partial"
            " FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid"
            " WHERE s.relid IN (SELECT relid FROM pg_stat_user_tables"
            "  WHERE n_tup_ins + n_tup_upd + n_tup_del > 0) ORDER BY 1, 2"
        )
        functions = await connection.fetch(
            "SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions"
            " ORDER BY total_time DESC"
        )
    finally:
        await connection.close()

    def per(value: float, digits: int = 3) -> float:
        return round(float(value) / count, digits)

    return {
        "operations": count,
        "wal_bytes": per(wal["lsn"] - before["lsn"], 0),
        "wal_records": per(wal["wal_records"] - before["wal_records"], 1),
        "wal_fpi": per(wal["wal_fpi"] - before["wal_fpi"], 2),
        "exec_ms": per(sum(s["total_exec_time"] for s in statements)),
        "statements": [
            {
                "calls": per(s["calls"], 3),
                "mean_ms": round(s["total_exec_time"] / s["calls"], 4) if s["calls"] else 0,
                "total_ms": per(s["total_exec_time"], 4),
                "plan_ms": per(s["total_plan_time"], 4),
                "rows": per(s["rows"], 2),
                "wal_bytes": per(s["wal_bytes"], 0),
                "wal_fpi": per(s["wal_fpi"], 2),
                "blks_hit": per(s["shared_blks_hit"], 1),
                "blks_dirtied": per(s["shared_blks_dirtied"], 2),
                "query": " ".join(s["query"].split())[:240],
            }
            for s in statements
        ],
        "tables": [
            {
                "table": t["name"],
                "ins": per(t["n_tup_ins"], 2),
                "upd": per(t["n_tup_upd"], 2),
                "hot_upd": per(t["n_tup_hot_upd"], 2),
                "del": per(t["n_tup_del"], 2),
                "dead": per(t["n_dead_tup"], 2),
                "indexes": t["indexes"],
                "index_entries": per(
                    (t["n_tup_ins"] + t["n_tup_upd"] - t["n_tup_hot_upd"]) * t["full_indexes"], 2
                ),
            }
            for t in tables
        ],
        "indexes": [
            {
                "table": i["tab"],
                "index": i["name"],
                "scans": per(i["idx_scan"], 2),
                "unique": i["is_unique"],
                "partial": i["partial"],
            }
            for i in indexes
        ],
        "functions": [
            {
                "function": f["funcname"],
                "calls": per(f["calls"], 2),
                "total_ms": per(f["total_time"], 4),
                "self_ms": per(f["self_time"], 4),
            }
            for f in functions
            if f["calls"]
        ],
    }


def _run(
    clients: int, count: int, one: Callable[[httpx.Client, dict[str, str]], None], gateway: Gateway
) -> None:
    secret = {"Authorization": f"Bearer {gateway.secret_key}"}
    public = {"Authorization": f"Bearer {gateway.publishable_key}"}
    rests = [
        httpx.Client(base_url=gateway.rest_url, timeout=60, headers=secret) for _ in range(clients)
    ]
    try:
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            jobs = [pool.submit(one, rests[i % clients], public) for i in range(count)]
            for job in jobs:
                job.result()
    finally:
        for rest in rests:
            rest.close()


def create(rest: httpx.Client, public: dict[str, str]) -> None:
    rest.post(
        "/v1/payment_intents", json={"amount": 100, "currency": "usd"}, headers=key()
    ).raise_for_status()


def measure(
    gateway: Gateway, clients: int, count: int, one: Callable[[httpx.Client, dict[str, str]], None]
) -> dict[str, Any]:
    _run(1, 1, one, gateway)  # warm
    asyncio.run(_quiet(gateway))
    before = asyncio.run(_reset(gateway))
    started = time.monotonic()
    _run(clients, count, one, gateway)
    elapsed = time.monotonic() - started
    asyncio.run(_quiet(gateway))
    figures = asyncio.run(_read(gateway, before, count))
    figures["seconds"] = round(elapsed, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.pg_statements")
    parser.add_argument("--database-url", required=True, help="postgresql+asyncpg://...")
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument("--creates", type=int, default=0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--json", default="", help="write the figures here too")
    parser.add_argument(
        "--setup-sql", default="", help="run once the gateway is up, before the load (A/B trials)"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="paygate-pgstat-"))
    settings = one_api_settings(args.database_url, root)
    figures: dict[str, Any] = {}
    with (root / "gateway.log").open("w") as out, start_gateway(settings, out=out) as gateway:
        raise_limits(gateway)
        if args.setup_sql:
            asyncio.run(_execute(gateway, args.setup_sql))
        figures["payment"] = measure(gateway, args.clients, args.payments, payment)
        if args.creates:
            figures["create"] = measure(gateway, args.clients, args.creates, create)
    text = json.dumps(figures, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
