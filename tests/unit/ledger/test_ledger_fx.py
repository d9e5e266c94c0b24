"""Conversion across exponents with decimal rates, half to even, and the rates table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.ledger.errors import FxRateUnavailable
from core.ledger.fx import FxRate, RateTable, convert, convert_to, parse_rates_csv
from core.shared.money import MAX_AMOUNT, Money, exponent
from tests.unit.ledger.support import CURRENCIES, RATES_AS_OF, rate


@pytest.mark.parametrize(
    ("amount", "base", "quote", "rate_text", "expected", "why"),
    [
        (1000, "USD", "EUR", "0.92", 920, "10.00 USD -> 9.20 EUR"),
        (1234, "USD", "JPY", "151.37", 1868, "12.34 USD = 1867.9058 yen -> 1868"),
        (1868, "JPY", "USD", "0.0066", 1233, "1868 yen = 12.3288 USD -> 12.33"),
        (1000, "JPY", "KWD", "0.00205", 2050, "1000 yen = 2.050 KWD: 0 -> 3 decimals"),
        (1, "JPY", "KWD", "0.00205", 2, "1 yen = 2.05 fils -> 2"),
        (1000, "KWD", "JPY", "487.5", 488, "1.000 KWD = 487.5 yen: half to even -> 488"),
        (1000, "KWD", "JPY", "486.5", 486, "486.5 yen: half to even -> 486"),
        (1, "KWD", "JPY", "487.5", 0, "1 fils = 0.4875 yen -> 0"),
        (1234, "KWD", "USD", "3.252", 401, "1.234 KWD = 4.012968 USD -> 4.01"),
        (1, "USD", "KWD", "0.3075", 3, "1 cent = 3.075 fils -> 3"),
        (1, "USD", "EUR", "0.5", 0, "0.5 cent: half to even -> 0"),
        (3, "USD", "EUR", "0.5", 2, "1.5 cents: half to even -> 2"),
        (10000, "INR", "MAD", "0.1209", 1209, "100.00 INR -> 12.09 MAD"),
        (5000, "GBP", "INR", "105.21", 526050, "50.00 GBP -> 5260.50 INR"),
    ],
)
def test_convert(
    amount: int, base: str, quote: str, rate_text: str, expected: int, why: str
) -> None:
    assert convert(Money(amount, base), rate(base, quote, rate_text)) == Money(expected, quote), why


def test_negative_amounts_convert_symmetrically() -> None:
    assert convert(Money(-3, "USD"), rate("USD", "EUR", "0.5")) == Money(-2, "EUR")


def test_convert_refuses_the_wrong_currency() -> None:
    with pytest.raises(ValueError):
        convert(Money(100, "EUR"), rate("USD", "EUR", "0.92"))


def test_convert_to_the_same_currency_needs_no_rate() -> None:
    money = Money(100, "USD")
    assert convert_to(money, "USD", None) is money
    with pytest.raises(ValueError):
        convert_to(money, "EUR", None)
    with pytest.raises(ValueError):
        convert_to(money, "JPY", rate("USD", "EUR", "0.92"))


def test_rates_are_positive_finite_decimals_between_two_currencies() -> None:
    with pytest.raises(TypeError):
        FxRate("USD", "EUR", 0.92, RATES_AS_OF)  # type: ignore[arg-type]
    for bad in ("0", "-1", "Infinity", "NaN"):
        with pytest.raises(ValueError):
            FxRate("USD", "EUR", Decimal(bad), RATES_AS_OF)
    with pytest.raises(ValueError):
        FxRate("USD", "USD", Decimal(1), RATES_AS_OF)
    with pytest.raises(ValueError):
        FxRate("USD", "XXX", Decimal(1), RATES_AS_OF)
    with pytest.raises(ValueError):
        FxRate("USD", "EUR", Decimal(1), datetime(2026, 1, 1))


def _half_even(value: Fraction) -> int:
    floor = value.numerator // value.denominator
    rest = value - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        return floor + 1
    return floor


@given(
    amount=st.integers(-MAX_AMOUNT, MAX_AMOUNT),
    base=st.sampled_from(CURRENCIES),
    quote=st.sampled_from(CURRENCIES),
    rate_value=st.decimals(min_value=Decimal("0.000000001"), max_value=100000, places=9),
)
def test_convert_matches_an_exact_rational_reference(
    amount: int, base: str, quote: str, rate_value: Decimal
) -> None:
    if base == quote:
        return
    exact = (
        Fraction(amount) * Fraction(rate_value) * Fraction(10) ** (exponent(quote) - exponent(base))
    )
    converted = convert(Money(amount, base), FxRate(base, quote, rate_value, RATES_AS_OF))
    assert converted.amount == _half_even(exact)


class TestRateTable:
    def test_serves_the_newest_rate_at_or_before_the_time_asked(self) -> None:
        day1 = datetime(2026, 3, 1, tzinfo=UTC)
        rates = [
            FxRate("USD", "EUR", Decimal("0.91"), day1),
            FxRate("USD", "EUR", Decimal("0.92"), day1 + timedelta(days=1)),
            FxRate("USD", "EUR", Decimal("0.93"), day1 + timedelta(days=2)),
        ]
        table = RateTable(reversed(rates))
        at = day1 + timedelta(days=1, hours=5)
        assert table.rate("USD", "EUR", at=at).rate == Decimal("0.92")
        with pytest.raises(FxRateUnavailable):
            table.rate("USD", "EUR", at=day1 - timedelta(seconds=1))

    def test_derives_an_unlisted_pair_from_its_inverse(self) -> None:
        table = RateTable([FxRate("USD", "JPY", Decimal("151.37"), RATES_AS_OF, "ecb")])
        inverse = table.rate("JPY", "USD", at=RATES_AS_OF)
        assert (inverse.base, inverse.quote) == ("JPY", "USD")
        assert inverse.rate == Decimal("0.00660632886305")  # 12 significant digits
        assert inverse.source == "inverse:ecb"

    def test_never_triangulates(self) -> None:
        table = RateTable([rate("USD", "JPY", "151.37"), rate("USD", "KWD", "0.3075")])
        with pytest.raises(FxRateUnavailable) as caught:
            table.rate("JPY", "KWD", at=RATES_AS_OF)
        assert caught.value.reason == "FX_RATE_UNAVAILABLE"

    def test_refuses_stale_rates(self) -> None:
        table = RateTable([rate("USD", "EUR", "0.92")], max_age=timedelta(hours=36))
        assert table.rate("USD", "EUR", at=RATES_AS_OF + timedelta(hours=36)).rate
        with pytest.raises(FxRateUnavailable):
            table.rate("USD", "EUR", at=RATES_AS_OF + timedelta(hours=37))


RATES_FILE = """\
# paygate FX rates: quote units per 1 base unit
base,quote,rate,as_of,source
USD,EUR,0.9254,2026-03-01T00:00:00Z,ecb
USD,JPY,151.37,2026-03-01T00:00:00+00:00,ecb

JPY,KWD,0.00205,2026-03-01T16:00:00Z,treasury
"""


class TestRatesFile:
    def test_parses_the_documented_format(self) -> None:
        rates = parse_rates_csv(RATES_FILE)
        assert [(r.base, r.quote, r.rate, r.source) for r in rates] == [
            ("USD", "EUR", Decimal("0.9254"), "ecb"),
            ("USD", "JPY", Decimal("151.37"), "ecb"),
            ("JPY", "KWD", Decimal("0.00205"), "treasury"),
        ]
        assert rates[2].as_of == datetime(2026, 3, 1, 16, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("line", "problem"),
        [
            ("USD,EUR,1e-1,2026-03-01T00:00:00Z,ecb", "not a plain decimal"),
            ("USD,EUR,-0.92,2026-03-01T00:00:00Z,ecb", "not a plain decimal"),
            ("USD,EUR,0,2026-03-01T00:00:00Z,ecb", "positive"),
            ("USD,EUR,0.92,2026-03-01T00:00:00,ecb", "timezone"),
            ("USD,EUR,0.92,2026-03-01T00:00:00Z", "5 fields"),
            ("usd,EUR,0.92,2026-03-01T00:00:00Z,ecb", "unknown currency"),
        ],
    )
    def test_names_the_bad_line(self, line: str, problem: str) -> None:
        with pytest.raises(ValueError, match=problem) as caught:
            parse_rates_csv(f"base,quote,rate,as_of,source\n{line}\n")
        assert str(caught.value).startswith("line 2:")

    def test_requires_the_header(self) -> None:
        with pytest.raises(ValueError, match="header"):
            parse_rates_csv("USD,EUR,0.92,2026-03-01T00:00:00Z,ecb\n")
        with pytest.raises(ValueError, match="header"):
            parse_rates_csv("# nothing\n")
