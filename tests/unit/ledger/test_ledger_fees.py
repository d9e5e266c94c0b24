"""Pricing: 2.9% + 30 minor units by default, decimal arithmetic, half up to the minor unit."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.ledger.fees import DEFAULT_PRICING, FeeRule, Pricing, fee_for, prorated_fee
from core.shared.money import MAX_AMOUNT, Money


@pytest.mark.parametrize(
    ("amount", "currency", "expected", "why"),
    [
        (1000, "USD", 59, "29 + 30 cents"),
        (500, "USD", 45, "14.5 rounds half up to 15, + 30"),
        (2500, "USD", 103, "72.5 rounds half up to 73 (half even would give 72)"),
        (499, "USD", 44, "14.471 rounds down"),
        (517, "USD", 45, "14.993 rounds up"),
        (1000, "EUR", 59, "same rule in every 2-decimal currency"),
        (1000, "JPY", 59, "JPY 1000: 29 yen + the fixed 30 *yen* (exponent 0)"),
        (500, "JPY", 45, "JPY 500: 14.5 yen rounds half up"),
        (10000, "KWD", 320, "KWD 10.000: 290 fils + the fixed 30 *fils* (0.030 KWD)"),
        (1500, "KWD", 74, "KWD 1.500: 43.5 fils rounds half up, + 30"),
        (99_999_999_999, "USD", 2_900_000_030, "the largest amount, exactly"),
    ],
)
def test_default_fee(amount: int, currency: str, expected: int, why: str) -> None:
    assert fee_for(Money(amount, currency), "card") == Money(expected, currency), why


def test_fee_never_exceeds_the_amount() -> None:
    assert fee_for(Money(10, "USD"), "card") == Money(10, "USD")
    assert fee_for(Money(0, "USD"), "card") == Money(0, "USD")


def test_more_precise_percentages_round_half_up() -> None:
    pricing = Pricing(default=FeeRule(Decimal("2.95"), 0))
    assert fee_for(Money(1000, "USD"), "card", pricing) == Money(30, "USD")  # 29.5
    assert fee_for(Money(1001, "USD"), "card", pricing) == Money(30, "USD")  # 29.5295


def test_rules_by_currency_and_method_override_the_default() -> None:
    pricing = Pricing(
        by_currency={"JPY": FeeRule(Decimal("3.6"), 0), "INR": FeeRule(Decimal("2"), 300)},
        by_currency_and_method={("INR", "upi"): FeeRule(Decimal("0"), 0)},
    )
    assert fee_for(Money(1000, "JPY"), "card", pricing) == Money(36, "JPY")
    assert fee_for(Money(10000, "INR"), "card", pricing) == Money(500, "INR")
    assert fee_for(Money(10000, "INR"), "upi", pricing) == Money(0, "INR")
    assert fee_for(Money(1000, "USD"), "upi", pricing) == Money(59, "USD")


def test_fee_rules_take_decimals_only() -> None:
    with pytest.raises(TypeError):
        FeeRule(2.9, 30)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FeeRule(Decimal("NaN"), 30)
    with pytest.raises(ValueError):
        FeeRule(Decimal("-1"), 30)
    with pytest.raises(ValueError):
        FeeRule(Decimal("2.9"), -1)
    with pytest.raises(ValueError):
        Pricing(by_currency={"XXX": FeeRule()})


def test_defaults_keep_refund_fees_and_charge_a_dispute_fee() -> None:
    assert DEFAULT_PRICING.refund_fees is False
    assert DEFAULT_PRICING.dispute_fee_for("USD") == Money(1500, "USD")
    pricing = Pricing(dispute_fee_by_currency={"JPY": 2000, "KWD": 5000})
    assert pricing.dispute_fee_for("JPY") == Money(2000, "JPY")
    assert pricing.dispute_fee_for("KWD") == Money(5000, "KWD")


@pytest.mark.parametrize(
    ("fee", "part", "whole", "expected"),
    [(59, 500, 1000, 30), (59, 1000, 1000, 59), (59, 0, 1000, 0), (45, 1, 3, 15), (1, 1, 2, 1)],
)
def test_prorated_fee_rounds_half_up(fee: int, part: int, whole: int, expected: int) -> None:
    assert prorated_fee(fee, part, whole) == expected


@given(
    amount=st.integers(0, MAX_AMOUNT),
    percent=st.decimals(min_value=0, max_value=10, places=3),
    fixed=st.integers(0, 1000),
)
def test_fee_matches_an_exact_rational_reference(amount: int, percent: Decimal, fixed: int) -> None:
    exact = Fraction(amount) * Fraction(percent) / 100
    half_up = int(exact + Fraction(1, 2))  # floor(x + 1/2) for x >= 0
    pricing = Pricing(default=FeeRule(percent, fixed))
    assert fee_for(Money(amount, "USD"), "card", pricing).amount == min(half_up + fixed, amount)
