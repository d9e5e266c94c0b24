"""Currency conversion: decimal rates, conversion across exponents, and the rates table.

A rate says how many major units of `quote` one major unit of `base` buys (USD->EUR 0.9254:
one dollar is 0.9254 euro). Converting minor units across exponents is then

    to_minor = round_half_even(from_minor * rate * 10 ** (exp(quote) - exp(base)))

computed exactly in Decimal, rounded once, to the minor unit of the target currency:
JPY 1000 at JPY->KWD 0.00205 is 1000 * 0.00205 * 10**3 = 2050 fils (2.050 KWD).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal

from core.ledger.arithmetic import EXACT, FX_ROUNDING, require_decimal, to_minor
from core.ledger.errors import FxRateUnavailable
from core.shared.money import CURRENCY_EXPONENTS, Money, exponent

__all__ = [
    "INVERSE_SIGNIFICANT_DIGITS",
    "FxRate",
    "RateTable",
    "convert",
    "convert_to",
    "parse_rates_csv",
]

# A rate derived as the inverse of a listed one keeps this many significant digits.
INVERSE_SIGNIFICANT_DIGITS = 12
_INVERSE = Context(prec=INVERSE_SIGNIFICANT_DIGITS, rounding=ROUND_HALF_EVEN)
_RATE_TEXT = re.compile(r"^[0-9]+(\.[0-9]+)?$")
RATES_CSV_HEADER = "base,quote,rate,as_of,source"


@dataclass(frozen=True, slots=True)
class FxRate:
    base: str
    quote: str
    rate: Decimal  # major units of quote per one major unit of base
    as_of: datetime
    source: str = ""

    def __post_init__(self) -> None:
        for currency in (self.base, self.quote):
            if currency not in CURRENCY_EXPONENTS:
                raise ValueError(f"unknown currency {currency!r}")
        if self.base == self.quote:
            raise ValueError("a rate converts between two different currencies")
        if require_decimal(self.rate, "rate") <= 0:
            raise ValueError("a rate is positive")
        if self.as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")

    def inverse(self) -> FxRate:
        """quote->base, 1/rate rounded half even to INVERSE_SIGNIFICANT_DIGITS digits."""
        inverted = _INVERSE.divide(Decimal(1), self.rate)
        return FxRate(self.quote, self.base, inverted, self.as_of, f"inverse:{self.source}")


def convert(money: Money, rate: FxRate) -> Money:
    """`money` (in rate.base) in rate.quote, rounded half even to the quote's minor unit."""
    if money.currency != rate.base:
        raise ValueError(f"a {rate.base}->{rate.quote} rate cannot convert {money.currency}")
    shift = exponent(rate.quote) - exponent(rate.base)
    exact = EXACT.multiply(Decimal(money.amount), rate.rate).scaleb(shift, context=EXACT)
    return Money(to_minor(exact, FX_ROUNDING), rate.quote)


def convert_to(money: Money, currency: str, rate: FxRate | None) -> Money:
    """`money` in `currency`: itself when the currencies match, else converted by `rate`."""
    if money.currency == currency:
        if rate is not None:
            raise ValueError("no rate applies to a same-currency amount")
        return money
    if rate is None or rate.quote != currency:
        raise ValueError(f"converting {money.currency} to {currency} needs that rate")
    return convert(money, rate)


class RateTable:
    """The rates an FX-rates adapter serves: newest listed rate at or before the time asked.

    A pair that is not listed is served as the inverse of the reverse pair. Rates are never
    triangulated through a third currency: list the pair if you need it. A rate older than
    `max_age` is refused rather than used (None: no limit).
    """

    def __init__(self, rates: Iterable[FxRate], *, max_age: timedelta | None = None) -> None:
        self._by_pair: dict[tuple[str, str], list[FxRate]] = {}
        for rate in rates:
            self._by_pair.setdefault((rate.base, rate.quote), []).append(rate)
        for listed in self._by_pair.values():
            listed.sort(key=lambda r: r.as_of)
        self._max_age = max_age

    def rate(self, base: str, quote: str, *, at: datetime) -> FxRate:
        direct = self._latest(base, quote, at)
        if direct is not None:
            return direct
        reverse = self._latest(quote, base, at)
        if reverse is not None:
            return reverse.inverse()
        raise FxRateUnavailable(base, quote)

    def _latest(self, base: str, quote: str, at: datetime) -> FxRate | None:
        usable = [r for r in self._by_pair.get((base, quote), ()) if r.as_of <= at]
        if not usable:
            return None
        latest = usable[-1]
        if self._max_age is not None and at - latest.as_of > self._max_age:
            return None
        return latest


def parse_rates_csv(text: str) -> list[FxRate]:
    """Parses the rates file format of docs/ledger.md; ValueError names the bad line."""
    rates: list[FxRate] = []
    header_seen = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not header_seen:
            if line.replace(" ", "") != RATES_CSV_HEADER:
                raise ValueError(f"line {number}: expected the header {RATES_CSV_HEADER!r}")
            header_seen = True
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 5:
            raise ValueError(f"line {number}: expected 5 fields, found {len(fields)}")
        base, quote, rate_text, as_of_text, source = fields
        if not _RATE_TEXT.match(rate_text):
            raise ValueError(f"line {number}: rate {rate_text!r} is not a plain decimal")
        try:
            as_of = datetime.fromisoformat(as_of_text)
            rates.append(FxRate(base, quote, Decimal(rate_text), as_of, source))
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
    if not header_seen:
        raise ValueError(f"no header {RATES_CSV_HEADER!r}")
    return rates
