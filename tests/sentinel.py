"""Sentinel card numbers, and scanners that look for them where they must never be.

Run a scenario with `Sentinels` (fresh random Luhn-valid numbers and CVCs nobody else
uses), then scan everything it could have leaked into: database tables (every schema but
the vault's), log text, Redis keys and values. Any hit is a leak. A number counts as
leaked in full or in part: its first 12 digits (the BIN and the middle, which masking
hides) anywhere, also with spaces and dashes taken out of the text. A CVC is a short
number, so in text it only counts next to the word "cvc"; in binary Redis values (where
it would be raw) it counts anywhere.

tests/contract/vault/test_vault_sentinel.py uses it for the vault; an e2e suite can do
the same around its processes' logs and databases.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.shared.redaction import luhn_valid


def luhn_complete(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


@dataclass
class Sentinels:
    """Card numbers (16-digit visa-range, 15-digit amex-range) and CVCs made for one run."""

    pans: list[str] = field(default_factory=list)
    cvcs: list[str] = field(default_factory=list)

    def pan(self, prefix: str = "4", length: int = 16) -> str:
        body = prefix + "".join(
            secrets.choice("0123456789") for _ in range(length - len(prefix) - 1)
        )
        number = luhn_complete(body)
        self.pans.append(number)
        return number

    def cvc(self, digits: int = 3) -> str:
        value = "".join(secrets.choice("123456789") for _ in range(digits))
        self.cvcs.append(value)
        return value

    # --- what counts as a hit ---------------------------------------------------------

    def hits_in_text(self, haystack: str, where: str) -> list[str]:
        squeezed = re.sub(r"[ \-]", "", haystack)
        hits = []
        for pan in self.pans:
            for needle in (pan, pan[:12]):
                if needle in haystack or needle in squeezed:
                    hits.append(f"{where}: card number {pan[-4:]} ({len(needle)} digits)")
                    break
        for cvc in self.cvcs:
            if re.search(rf"cvc\W{{0,12}}{cvc}(?!\d)", haystack, re.IGNORECASE):
                hits.append(f"{where}: a CVC next to the word cvc")
        return hits

    def hits_in_bytes(self, haystack: bytes, where: str, *, cvcs: bool = True) -> list[str]:
        hits = [
            f"{where}: card number {pan[-4:]}"
            for pan in self.pans
            if pan.encode() in haystack or pan[:12].encode() in haystack
        ]
        for cvc in self.cvcs if cvcs else ():
            if re.search(rb"(?<!\d)" + cvc.encode() + rb"(?!\d)", haystack):
                hits.append(f"{where}: a raw CVC")
        return hits


async def tables(engine: AsyncEngine, *, exclude_schemas: Iterable[str] = ()) -> list[str]:
    """Every user table as schema.table, but those of the excluded schemas."""
    excluded = ["pg_catalog", "information_schema", *exclude_schemas]
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)"
                " FROM information_schema.tables"
                " WHERE table_type = 'BASE TABLE' AND table_schema <> ALL(:excluded)"
                " ORDER BY 1"
            ),
            {"excluded": excluded},
        )
        return list(rows.scalars())


async def scan_tables(
    engine: AsyncEngine, sentinels: Sentinels, names: Iterable[str]
) -> tuple[list[str], int]:
    """Hits in every row of the tables (each row as its text form); and how many rows."""
    hits: list[str] = []
    rows_seen = 0
    async with engine.connect() as connection:
        for name in names:
            rows = await connection.execute(text(f"SELECT t::text FROM {name} AS t"))
            for (row,) in rows:
                rows_seen += 1
                hits += sentinels.hits_in_text(row, name)
    return hits, rows_seen


async def redis_value(client: redis.asyncio.Redis, key: bytes) -> bytes:
    """Everything a key holds, read by its type (a stream's entries, a hash's fields...):
    not DUMP, whose RDB form compresses long strings (LZF), where a number hides."""
    kind = (await client.type(key)).decode()
    parts: list[bytes | float] = []
    if kind == "string":
        parts = [await client.get(key) or b""]
    elif kind == "hash":
        for field_value in (await client.hgetall(key)).items():
            parts += field_value
    elif kind == "list":
        parts = await client.lrange(key, 0, -1)
    elif kind == "set":
        parts = list(await client.smembers(key))
    elif kind == "zset":
        for member, score in await client.zrange(key, 0, -1, withscores=True):
            parts += [member, str(score).encode()]
    elif kind == "stream":
        for entry_id, fields in await client.xrange(key):
            parts.append(entry_id)
            for field_value in fields.items():
                parts += field_value
    elif kind != "none":  # a type this scan does not know yet: its raw form
        parts = [await client.dump(key) or b""]
    return b"\n".join(p if isinstance(p, bytes) else str(p).encode() for p in parts)


async def scan_redis(
    url: str, sentinels: Sentinels, *, cvc_prefix: bytes = b"paygate:vault:"
) -> tuple[list[str], int]:
    """Hits in every key name and value (read by type: strings, hashes, lists, sets,
    sorted sets and streams) of the database.

    Card numbers are looked for everywhere; CVCs (3-4 digits, which an unrelated counter
    may happen to equal) in the keys under `cvc_prefix` only.
    """
    client = redis.asyncio.Redis.from_url(url)
    hits: list[str] = []
    keys = 0
    try:
        async for key in client.scan_iter(count=1000):
            keys += 1
            ours = key.startswith(cvc_prefix)
            # Key names hold random ids, where a 3-digit CVC turns up by chance: card
            # numbers only there.
            hits += sentinels.hits_in_bytes(key, f"redis key {key[:40]!r}", cvcs=False)
            value = await redis_value(client, key)
            where = f"redis value of {key[:40]!r}"
            hits += sentinels.hits_in_bytes(value, where, cvcs=ours)
    finally:
        await client.aclose()
    return hits, keys


def scan_files(directory: Path, sentinels: Sentinels) -> tuple[list[str], int]:
    """Hits in every file under `directory` (logs, spans, journals), read as text; and
    how many files."""
    hits: list[str] = []
    files = 0
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            files += 1
            text = path.read_text(errors="replace")
            hits += sentinels.hits_in_text(text, f"file {path.relative_to(directory)}")
    return hits, files


# --- what the tests typed -------------------------------------------------------------
# A card number in a test's source, grouped or not: 13 to 19 digits of a card network's
# range (2-6), Luhn-valid.
_NUMBER = re.compile(r"(?<![\d.])[2-6](?:[ -]?\d){12,18}(?![\d.])")
_CVC = re.compile(r"""cvc["']?\s*[:=]\s*["'](\d{3,4})["']""", re.IGNORECASE)


def card_numbers_in(paths: Iterable[Path]) -> list[str]:
    """Every card number the sources under `paths` type (each once)."""
    found: set[str] = set()
    for path in paths:
        for match in _NUMBER.finditer(path.read_text(errors="replace")):
            digits = re.sub(r"[ -]", "", match.group(0))
            if luhn_valid(digits):
                found.add(digits)
    return sorted(found)


def cvcs_in(paths: Iterable[Path]) -> list[str]:
    """Every CVC the sources under `paths` type (`"cvc": "123"`, `cvc=...`)."""
    return sorted({m.group(1) for path in paths for m in _CVC.finditer(path.read_text())})


# --- credentials ----------------------------------------------------------------------
# Anything shaped like a live credential, unredacted: an API key's, refresh or invitation
# token's random body, a JWT (access token), a client secret. core.shared.redaction
# leaves "sk_test_[REDACTED]", which none of these match.
CREDENTIAL_SHAPES = re.compile(
    r"""
      \b(?:sk|rk)_(?:test|live)_[A-Za-z0-9_\-]{12,}
    | \b(?:rt|invtok)_[A-Za-z0-9_\-]{12,}
    | \beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}
    | \b[a-z]{2,4}_[A-Za-z0-9]+_secret_[A-Za-z0-9_\-]{8,}
    """,
    re.VERBOSE,
)


def credential_leaks(text: str, where: str, secrets: Iterable[str] = ()) -> list[str]:
    """Lines of `text` holding something credential-shaped, or one of `secrets` (a
    password, a key: anything the scenario knows it sent), each cut short and with the
    secret itself left out of the report."""
    wanted = [s for s in secrets if s]
    hits = []
    for number, line in enumerate(text.splitlines(), 1):
        found = CREDENTIAL_SHAPES.search(line)
        if found or any(secret in line for secret in wanted):
            what = found.group(0)[:10] + "..." if found else "a known secret"
            hits.append(f"{where}:{number}: {what} in {CREDENTIAL_SHAPES.sub('***', line)[:200]}")
    return hits
