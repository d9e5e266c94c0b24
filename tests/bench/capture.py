"""`python -m tests.bench capture-sql`: rewrites tests/bench/payment.sql from the gateway.

R_pg_payment is pgbench replaying exactly the SQL of one full card payment (tokenize,
create, confirm with automatic capture) as the gateway issues it. This command starts the
gateway as the harness does, makes a few payments to warm every pool and statement cache,
turns PostgreSQL's statement log on (log_statement = all, by ALTER SYSTEM and a reload,
which every pooled session picks up), makes a second payment, turns the log off again and
converts what the gateway's sessions logged into a pgbench script:

- each `execute` with its `parameters:` line becomes the statement with the values inlined
  (the harness replays it with pgbench -M prepared, each statement prepared once per
  session as the gateway's driver prepares it: `prepared_text`);
- every id the payment created (pi_..., pa_..., tok_..., ...) and the idempotency key get
  a per-run suffix from pgbench's `:run`, so each replay inserts new rows;
- statements of sessions that took no part in the payment (the worker's polls) are left
  out: a session counts when one of its statements names the payment's intent, token or
  API key.

Regenerate it whenever the payment path's SQL changes; the harness reports the script's
statement and transaction counts next to its tps, so a stale script shows.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.bench import harness

# "2026-12-06 04:40:00.123 UTC [1234] LOG:  execute __asyncpg_stmt_1__: SELECT ..."
_ENTRY = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] (LOG|DETAIL|ERROR|STATEMENT|HINT|WARNING):  (.*)$")
# Ids the payment creates; merchants (acct_), API keys (key_) and the vault's data keys
# (dek_) exist already and stay.
_ID = re.compile(r"'((?!acct_|key_|dek_)[a-z]{2,4}_[0-9A-Za-z]{16,})'")
_PARAM = re.compile(r"\$(\d+) = ('(?:[^']|'')*'|NULL)")


def _entries(text: str) -> list[tuple[int, str, str]]:
    """(pid, kind, message) with continuation lines joined."""
    entries: list[tuple[int, str, str]] = []
    for line in text.splitlines():
        m = _ENTRY.match(line)
        if m:
            entries.append((int(m.group(1)), m.group(2), m.group(3)))
        elif entries and line.startswith("\t"):
            pid, kind, message = entries[-1]
            entries[-1] = (pid, kind, message + "\n" + line[1:])
    return entries


def statements(log: str) -> list[tuple[int, str]]:
    """(backend pid, SQL with parameters inlined), in log order."""
    out: list[tuple[int, str]] = []
    pending: dict[int, int] = {}  # pid -> index in out awaiting its parameters
    for pid, kind, message in _entries(log):
        if kind == "LOG" and message.startswith(("statement: ", "execute ")):
            sql = message.split(": ", 1)[1]
            out.append((pid, sql.strip().rstrip(";")))
            pending[pid] = len(out) - 1
        elif kind == "DETAIL" and message.startswith("parameters: ") and pid in pending:
            index = pending.pop(pid)
            values = {int(n): v for n, v in _PARAM.findall(message)}
            out[index] = (pid, _inline(out[index][1], values))
    return out


def _inline(sql: str, values: dict[int, str]) -> str:
    return re.sub(r"\$(\d+)\b", lambda m: values.get(int(m.group(1)), m.group(0)), sql)


def _with_run_suffix(sql: str, value: str) -> str:
    """`value` given the per-run suffix wherever the statement names it: as a literal of
    its own ('pi_...') and as an element of an array literal ('{pi_...,pi_...}', how the
    history lines and the events name their intent); an element left without it would
    make every replayed payment's lines name the captured payment's rows."""
    sql = sql.replace(f"'{value}'", f"'{value}_:run'")
    return re.sub(rf"(?<=[{{,]){re.escape(value)}(?=[,}}])", f"{value}_:run", sql)


def to_pgbench(
    captured: list[tuple[int, str]],
    markers: list[str],
    variables: dict[str, str],
    unique: tuple[str, ...] = (),
) -> str:
    """The script; `variables` maps values of the capturing run's merchant (its id, keys,
    data key) to {{placeholders}}, which the harness fills in for its own merchant;
    `unique` values (the idempotency keys) get the per-run suffix like the ids."""
    sessions = {pid for pid, sql in captured if any(marker in sql for marker in markers)}
    kept = _without_probes([sql for pid, sql in captured if pid in sessions])
    ids = sorted({m for sql in kept for m in _ID.findall(sql)} | set(unique))
    body = []
    for sql in kept:
        for value in ids:
            sql = _with_run_suffix(sql, value)
        for value, name in variables.items():
            sql = sql.replace(value, "{{" + name + "}}")
        body.append(sql.replace("\n", " ") + ";")
    transactions = sum(1 for s in kept if s.upper().startswith(("BEGIN", "START")))
    header = [
        "-- One full card payment as the gateway issues it: written by",
        "-- `python -m tests.bench capture-sql` (tests/bench/capture.py); do not edit.",
        f"-- {len(kept)} statements, {transactions} explicit transactions.",
        f"-- Placeholders: {', '.join(sorted(set(variables.values())))}.",
        "\\set run random(1, 1000000000000)",
    ]
    return "\n".join(header + body) + "\n"


# What asyncpg sends by itself the first time a connection meets a type it has no codec
# for (its introspection of pg_catalog, with JIT turned off around it): once per
# connection and type, never per payment, so never part of the payment's SQL.
_DRIVER_INTROSPECTION = ("typeinfo_tree", "current_setting('jit')", "set_config('jit'")


# The API keys' usage, counted in each process and written every few seconds for every
# key used meanwhile (core/access, "usage off the request's path"): a pooled session of the
# payment may carry that transaction between two of its requests, but it is no payment's.
_USAGE_FLUSH = "UPDATE api_keys SET last_used_at="


def _without_probes(kept: list[str]) -> list[str]:
    """Without the readiness probe's schema check, which may borrow a pooled session of
    the payment between two of its requests (BEGIN, the read, ROLLBACK), without the API
    keys' usage flush (_USAGE_FLUSH: its updates and the BEGIN before and COMMIT after
    them, which are its own: it is a transaction of its own, perhaps begun before the log
    was turned on), and without the driver's type introspection (_DRIVER_INTROSPECTION)."""
    out: list[str] = []
    flushing = False
    for sql in kept:
        if "alembic_version" in sql or any(mark in sql for mark in _DRIVER_INTROSPECTION):
            continue
        upper = sql.upper()
        if upper.startswith("ROLLBACK") and out and out[-1].upper().startswith("BEGIN"):
            out.pop()
            continue
        if sql.startswith(_USAGE_FLUSH):
            if not flushing and out and out[-1].upper().startswith("BEGIN"):
                out.pop()
            flushing = True
            continue
        if flushing:
            flushing = False
            if upper.startswith("COMMIT"):
                continue
        out.append(sql)
    return out


def token_key(key: str) -> str:
    """The tokenization's Idempotency-Key of the payment whose confirm sends `key`."""
    return f"{key}-tok"


def one_payment(target: harness.Target, key: str) -> dict[str, str]:
    """One payment as the hosted checkout makes it (clients/web/checkout): an
    Idempotency-Key on the tokenization and on the confirm."""
    m = target.merchants[0]
    with httpx.Client(base_url=target.rest_url, timeout=30) as client:
        token = client.post(
            "/v1/tokens",
            headers={
                "Authorization": f"Bearer {m.publishable_key}",
                "Idempotency-Key": token_key(key),
            },
            json={"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040}},
        ).json()["id"]
        secret = {"Authorization": f"Bearer {m.secret_key}"}
        intent = client.post(
            "/v1/payment_intents", headers=secret, json={"amount": 2500, "currency": "usd"}
        ).json()["id"]
        confirmed = client.post(
            f"/v1/payment_intents/{intent}/confirm",
            headers={**secret, "Idempotency-Key": key},
            json={"payment_method": token},
        )
        confirmed.raise_for_status()
    return {"token": token, "intent": intent}


async def _log_statements(dsn: str, on: bool) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        if on:
            await connection.execute("ALTER SYSTEM SET log_statement = 'all'")
        else:
            await connection.execute("ALTER SYSTEM RESET log_statement")
        await connection.execute("SELECT pg_reload_conf()")
    finally:
        await connection.close()


def capture(target: harness.Target, log_file: Path) -> str:
    for _ in range(6):  # warm every process's pools and statement caches
        one_payment(target, uuid.uuid4().hex)
    asyncio.run(_log_statements(target.dsn, on=True))
    time.sleep(0.5)
    start = log_file.stat().st_size
    key = f"bench-{uuid.uuid4().hex}"
    made = one_payment(target, key)
    time.sleep(0.5)
    asyncio.run(_log_statements(target.dsn, on=False))
    with log_file.open(errors="replace") as f:
        f.seek(start)
        log = f.read()
    merchant = target.merchants[0]
    values = asyncio.run(merchant_values(target.dsn, merchant))
    variables = {value: name for name, value in values.items()}
    markers = [values["sk_lookup"], values["pk_lookup"], made["token"], made["intent"], key]
    return to_pgbench(statements(log), markers, variables, unique=(key, token_key(key)))


async def merchant_values(dsn: str, merchant: harness.Merchant) -> dict[str, str]:
    """The values of a merchant that the script names through variables."""
    sk_lookup = merchant.secret_key[: len("sk_test_") + 8]
    pk_lookup = merchant.publishable_key[: len("pk_test_") + 8]
    connection = await asyncpg.connect(dsn)
    try:
        keys = {
            row["lookup"]: row["id"]
            for row in await connection.fetch(
                "SELECT id, lookup FROM api_keys WHERE merchant_id = $1", merchant.id
            )
        }
        dek = await connection.fetchval(
            "SELECT id FROM vault.data_keys WHERE merchant_id = $1 AND retired_at IS NULL "
            "ORDER BY version DESC LIMIT 1",
            merchant.id,
        )
    finally:
        await connection.close()
    return {
        "merchant": merchant.id,
        "sk_lookup": sk_lookup,
        "pk_lookup": pk_lookup,
        "sk_key": keys[sk_lookup],
        "pk_key": keys[pk_lookup],
        "dek": dek or "",
    }


def main(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir or (harness.REPO / "var" / "bench-capture")).absolute()
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    target = harness.start_gateway(data_dir)
    try:
        harness.set_limits(target, target.merchants, harness.UNLIMITED)
        script = capture(target, data_dir / "pg" / "postgres.log")
    finally:
        target.stop()
    harness.PAYMENT_SQL.write_text(script)
    print(f"wrote {harness.PAYMENT_SQL}: {script.count(chr(10))} lines")
    return 0


def filled(path: Path, values: dict[str, str]) -> str:
    """The script with the placeholders filled in with another merchant's values."""
    return filled_text(path.read_text(), values)


def filled_text(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    return text


# A string literal of the script ('' is a quote inside it).
_LITERAL = re.compile(r"'(?:[^']|'')*'")
# What pgbench reads as a variable: a colon before a name's character (the per-run
# suffix `:run` kept whole).
_COLON_NAME = re.compile(r"(:run(?![A-Za-z0-9_])|:(?=[A-Za-z0-9_]))")


def prepared_text(text: str) -> str:
    """The script for `pgbench -M prepared`, which prepares each statement once per
    session and sends its variables as parameters, as the gateway's driver does (asyncpg
    prepares every statement once per connection). pgbench takes every `:name` as a
    parameter, inside a string literal too, where the server sees no parameter: so each
    literal holding the per-run suffix or any other colon before a name (a timestamp's
    '07:16:29') is cut there into a concatenation, which the planner folds back into the
    constant: 'pi_..._:run' is ('pi_..._' || :run), '07:16' is ('07' || ':' || '16').
    Replayed with -M simple instead, PostgreSQL would parse and plan every statement on
    every payment, which the gateway does not do."""

    def split(literal: re.Match[str]) -> str:
        value = literal.group(0)
        pieces = _COLON_NAME.split(value[1:-1])
        if len(pieces) == 1:
            return value
        out = [f"'{pieces[0]}'"]
        for colon, piece in zip(pieces[1::2], pieces[2::2], strict=True):
            out += [":run" if colon == ":run" else "':'", f"'{piece}'"]
        return "(" + " || ".join(out) + ")"

    return _LITERAL.sub(split, text)


def describe(path: Path) -> dict[str, Any]:
    """What the stored script replays, for the results."""
    return describe_text(path.read_text())


def _statements_of(text: str) -> list[str]:
    return [x for x in text.splitlines() if x and not x.startswith(("--", "\\"))]


# A literal SQLAlchemy inlined ('2500'::BIGINT, an id, a timestamp) or a placeholder.
_LITERAL = re.compile(r"'(?:[^']|'')*'|\{\{\w+\}\}")


def same_shape(one: str, other: str) -> bool:
    """Whether two scripts send the same statements in the same order, whatever values
    they carry (ids, amounts, times differ from one capture to the next)."""

    def shape(text: str) -> list[str]:
        return [_LITERAL.sub("?", x) for x in _statements_of(text)]

    return shape(one) == shape(other)


def describe_text(text: str) -> dict[str, Any]:
    """What a script replays, for the results."""
    lines = _statements_of(text)
    upper = [x.upper() for x in lines]
    return {
        "statements": len(lines),
        "commits": sum(1 for x in upper if x.startswith(("COMMIT", "END"))),
        "begins": sum(1 for x in upper if x.startswith(("BEGIN", "START"))),
    }
