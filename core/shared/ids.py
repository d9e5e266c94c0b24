"""Prefixed, time-ordered identifiers: `pi_` + 26 Crockford base32 characters of a UUIDv7.

Base32 of a fixed-width big-endian value keeps the UUID's order, so ids sort by creation
time as text: list cursors (`starting_after`) and b-tree inserts both profit.
"""

from __future__ import annotations

import re

PREFIXES = frozenset(
    {"acct", "pi", "pa", "pm", "tok", "re", "evt", "we", "key", "usr", "txn", "po", "dp", "st",
     "inv", "req", "ses", "rt", "whd", "wha", "eml"}
)  # fmt: skip

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_ID_RE = re.compile(r"^([a-z]+)_([0-9a-hjkmnp-tv-z]{26})$")


def uuid7_int(unix_ms: int, rand_a: int, rand_b: int) -> int:
    """RFC 9562 UUIDv7 as an int: 48-bit ms timestamp, version, 12+62 random bits, variant."""
    return (
        (unix_ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | (rand_a & 0xFFF) << 64
        | 0b10 << 62
        | (rand_b & 0x3FFF_FFFF_FFFF_FFFF)
    )


def encode(prefix: str, value: int) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return f"{prefix}_{''.join(reversed(chars))}"


def has_prefix(value: str, prefix: str) -> bool:
    """True when `value` is a well-formed id of that kind (cheap check before a lookup)."""
    match = _ID_RE.match(value)
    return match is not None and match.group(1) == prefix
