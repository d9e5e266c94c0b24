"""The BIN (IIN) range table shipped with paygate: card number prefix -> brand, funding,
country.

Each row is a range of equal-length prefixes, `low` to `high` inclusive. A number takes the
row with the LONGEST matching prefix, so a specific row (a test BIN with its funding and
country) overrides the brand-wide row it sits in (`4` -> visa), and RuPay's 652150-653149
overrides Discover's 65. Two rows of the same prefix length may not overlap (checked when
the table is built), so a lookup never depends on row order.

Two kinds of rows:
- brand rows: the public IIN ranges of each scheme, funding unknown, country only where
  the scheme is domestic by definition (RuPay: IN).
- test rows: the BINs of the test cards in API.md and the well-known public test cards of
  other gateways, with funding and country, so test-mode payments show realistic cards.
  `400000276` follows the public test-card convention where digits 7-9 are the ISO 3166
  numeric country (276 = Germany).

A production deployment replaces this table with a licensed BIN feed (same `BinRange`
rows, loaded by an adapter); the lookup logic stays.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from core.vault.model import Brand, Funding

B, F = Brand, Funding


@dataclass(frozen=True)
class BinInfo:
    brand: Brand
    funding: Funding = Funding.UNKNOWN
    country: str = ""


UNKNOWN_BIN = BinInfo(Brand.UNKNOWN)


@dataclass(frozen=True)
class BinRange:
    low: str
    high: str
    brand: Brand
    funding: Funding = Funding.UNKNOWN
    country: str = ""

    def __post_init__(self) -> None:
        if not (self.low.isascii() and self.low.isdigit() and self.high.isdigit()):
            raise ValueError(f"BIN range {self.low}-{self.high}: prefixes must be digits")
        if len(self.low) != len(self.high) or self.low > self.high:
            raise ValueError(f"BIN range {self.low}-{self.high}: need equal lengths, low<=high")
        if self.country and not (len(self.country) == 2 and self.country.isupper()):
            raise ValueError(f"BIN range {self.low}: country must be ISO 3166 alpha-2")

    @property
    def info(self) -> BinInfo:
        return BinInfo(self.brand, self.funding, self.country)


def _r(low: str, high: str | None, brand: Brand, funding: Funding = F.UNKNOWN,
       country: str = "") -> BinRange:  # fmt: skip
    return BinRange(low, high or low, brand, funding, country)


BRAND_ROWS: tuple[BinRange, ...] = (
    _r("4", None, B.VISA),
    _r("51", "55", B.MASTERCARD),
    _r("2221", "2720", B.MASTERCARD),
    _r("34", None, B.AMEX),
    _r("37", None, B.AMEX),
    _r("6011", None, B.DISCOVER),
    _r("644", "649", B.DISCOVER),
    _r("65", None, B.DISCOVER),
    _r("3528", "3589", B.JCB),
    _r("300", "305", B.DINERS),
    _r("3095", None, B.DINERS),
    _r("36", None, B.DINERS),
    _r("38", "39", B.DINERS),
    _r("62", None, B.UNIONPAY),
    _r("8100", "8171", B.UNIONPAY),
    _r("508500", "508999", B.RUPAY, country="IN"),
    _r("606985", "607984", B.RUPAY, country="IN"),
    _r("608001", "608500", B.RUPAY, country="IN"),
    _r("652150", "653149", B.RUPAY, country="IN"),
    _r("817200", "820199", B.RUPAY, country="IN"),
    _r("5018", None, B.MAESTRO),
    _r("5020", None, B.MAESTRO),
    _r("5038", None, B.MAESTRO),
    _r("5893", None, B.MAESTRO),
    _r("6304", None, B.MAESTRO),
    _r("6759", None, B.MAESTRO),
    _r("6761", "6763", B.MAESTRO),
)

TEST_ROWS: tuple[BinRange, ...] = (
    # API.md test cards: 4000000000000002, ...0069, ...9995, 4000002760003184, ...
    _r("400000", None, B.VISA, F.CREDIT, "US"),
    _r("400000276", None, B.VISA, F.CREDIT, "DE"),
    _r("410000", None, B.VISA, F.CREDIT, "US"),  # 4100000000000019
    _r("424242", None, B.VISA, F.CREDIT, "US"),  # 4242424242424242
    _r("400005", None, B.VISA, F.DEBIT, "US"),  # 4000056655665556
    _r("555555", None, B.MASTERCARD, F.CREDIT, "US"),  # 5555555555554444
    _r("222300", None, B.MASTERCARD, F.CREDIT, "US"),  # 2223003122003222
    _r("520082", None, B.MASTERCARD, F.DEBIT, "US"),  # 5200828282828210
    _r("510510", None, B.MASTERCARD, F.PREPAID, "US"),  # 5105105105105100
    _r("378282", None, B.AMEX, F.CREDIT, "US"),  # 378282246310005
    _r("371449", None, B.AMEX, F.CREDIT, "US"),  # 371449635398431
    _r("601111", None, B.DISCOVER, F.CREDIT, "US"),  # 6011111111111117
    _r("601100", None, B.DISCOVER, F.CREDIT, "US"),  # 6011000990139424
)

DEFAULT_ROWS = BRAND_ROWS + TEST_ROWS


class BinTable:
    """Longest-prefix lookup over `BinRange` rows."""

    def __init__(self, rows: Iterable[BinRange]) -> None:
        by_length: dict[int, list[BinRange]] = {}
        for row in rows:
            by_length.setdefault(len(row.low), []).append(row)
        for length, group in by_length.items():
            group.sort(key=lambda r: r.low)
            for before, after in pairwise(group):
                if after.low <= before.high:
                    raise ValueError(
                        f"BIN ranges {before.low}-{before.high} and {after.low}-{after.high}"
                        f" overlap at prefix length {length}"
                    )
        # Longest prefixes first: the first hit is the most specific row. Within a length
        # the rows are disjoint and sorted, so a bisection finds the only candidate.
        self._groups = [
            (length, [r.low for r in group], group)
            for length, group in sorted(by_length.items(), reverse=True)
        ]

    def lookup(self, digits: str) -> BinInfo:
        for length, lows, group in self._groups:
            if len(digits) < length:
                continue
            prefix = digits[:length]
            i = bisect_right(lows, prefix) - 1
            if i >= 0 and prefix <= group[i].high:
                return group[i].info
        return UNKNOWN_BIN


DEFAULT_BIN_TABLE = BinTable(DEFAULT_ROWS)
