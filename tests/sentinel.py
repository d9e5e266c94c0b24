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


async def scan_redis(
    url: str, sentinels: Sentinels, *, cvc_prefix: bytes = b"paygate:vault:"
) -> tuple[list[str], int]:
    """Hits in every key name and value (DUMP: any type, raw bytes) of the database.

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
            value = await client.dump(key)
            if value is not None:
                where = f"redis value of {key[:40]!r}"
                hits += sentinels.hits_in_bytes(value, where, cvcs=ours)
    finally:
        await client.aclose()
    return hits, keys


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
