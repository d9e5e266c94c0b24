"""Prefixed ids: the base32 text of a UUIDv7, in the UUID's order."""

from __future__ import annotations

import random

import pytest

from core.shared.ids import encode, has_prefix, uuid7_int

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def by_division(prefix: str, value: int) -> str:
    """The definition: 26 base32 digits, most significant first."""
    digits = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        digits.append(ALPHABET[digit])
    return f"{prefix}_{''.join(reversed(digits))}"


@pytest.mark.parametrize("value", [0, 1, 31, 32, 1023, 1024, 2**64 - 1, 2**128 - 1])
def test_edge_values_are_their_base32_digits(value: int) -> None:
    assert encode("pi", value) == by_division("pi", value)


def test_random_uuids_are_their_base32_digits_and_keep_their_order() -> None:
    chance = random.Random(20261207)
    values = [
        uuid7_int(chance.getrandbits(48), chance.getrandbits(12), chance.getrandbits(62))
        for _ in range(2000)
    ]
    texts = [encode("whd", v) for v in values]
    assert texts == [by_division("whd", v) for v in values]
    assert sorted(texts) == [encode("whd", v) for v in sorted(values)]
    assert all(has_prefix(t, "whd") and len(t) == 30 for t in texts)


def test_an_unknown_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown id prefix"):
        encode("nope", 1)
