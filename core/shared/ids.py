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


# Two characters per 10 bits, most significant first: 13 table lookups rather than 26
# divisions of a 128-bit integer (every object a payment writes takes an id).
_PAIRS = tuple(high + low for high in _ALPHABET for low in _ALPHABET)
_SHIFTS = tuple(range(120, -1, -10))


def encode(prefix: str, value: int) -> str:
    """26 base32 characters of the value's low 130 bits (a UUID's 128, two zero bits)."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    pairs = _PAIRS
    return prefix + "_" + "".join([pairs[(value >> shift) & 0x3FF] for shift in _SHIFTS])


def has_prefix(value: str, prefix: str) -> bool:
    """True when `value` is a well-formed id of that kind (cheap check before a lookup)."""
    match = _ID_RE.match(value)
    return match is not None and match.group(1) == prefix
