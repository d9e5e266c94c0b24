"""Pricing: what paygate charges a merchant, computed in decimals and rounded half up.

A fee rule is `percent` of the amount plus `fixed` minor units of the charge currency. The
default, 2.9% + 30, reads as 30 cents in USD, EUR or GBP, 30 paise in INR, 30 centimes in
MAD, but as 30 yen in JPY (exponent 0: the minor unit is the yen) and 30 fils = 0.030 KWD
in KWD (exponent 3). Per-currency and per-method rules override it (see docs/ledger.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from core.ledger.arithmetic import EXACT, FEE_ROUNDING, divide_half_up, require_decimal, to_minor
from core.shared.money import CURRENCY_EXPONENTS, Money

__all__ = ["DEFAULT_PRICING", "FeeRule", "Pricing", "fee_for", "prorated_fee"]

_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class FeeRule:
    percent: Decimal = Decimal("2.9")
    fixed: int = 30  # minor units of the charge currency

    def __post_init__(self) -> None:
        require_decimal(self.percent, "percent")
        if not Decimal(0) <= self.percent <= _HUNDRED:
            raise ValueError("percent must be between 0 and 100")
        if type(self.fixed) is not int or self.fixed < 0:
            raise ValueError("fixed must be a non-negative int of minor units")


@dataclass(frozen=True)
class Pricing:
    """A merchant's price list. Rules are looked up (currency, method), then currency."""

    default: FeeRule = field(default_factory=FeeRule)
    by_currency: Mapping[str, FeeRule] = field(default_factory=dict)
    by_currency_and_method: Mapping[tuple[str, str], FeeRule] = field(default_factory=dict)
    # Whether a refund gives back the matching share of the processing fee. Default no,
    # like Stripe: the work of processing the payment was done.
    refund_fees: bool = False
    # Charged when a dispute opens, in minor units of the settlement currency.
    dispute_fee: int = 1500
    dispute_fee_by_currency: Mapping[str, int] = field(default_factory=dict)
    # Whether winning a dispute gives the dispute fee back.
    refund_dispute_fee_on_win: bool = False

    def __post_init__(self) -> None:
        for currency in [*self.by_currency, *(c for c, _ in self.by_currency_and_method),
                         *self.dispute_fee_by_currency]:  # fmt: skip
            if currency not in CURRENCY_EXPONENTS:
                raise ValueError(f"unknown currency {currency!r} in pricing")
        for fee in [self.dispute_fee, *self.dispute_fee_by_currency.values()]:
            if type(fee) is not int or fee < 0:
                raise ValueError("dispute fees are non-negative ints of minor units")

    def rule_for(self, currency: str, method: str) -> FeeRule:
        return (
            self.by_currency_and_method.get((currency, method))
            or self.by_currency.get(currency)
            or self.default
        )

    def dispute_fee_for(self, currency: str) -> Money:
        return Money(self.dispute_fee_by_currency.get(currency, self.dispute_fee), currency)


DEFAULT_PRICING = Pricing()


def fee_for(amount: Money, method: str, pricing: Pricing = DEFAULT_PRICING) -> Money:
    """The processing fee of a charge, in the charge currency.

    fee = round_half_up(amount * percent / 100) + fixed, capped at the amount so that a
    charge never nets negative. Only the percentage part is rounded: `fixed` is whole
    minor units already.
    """
    if amount.amount < 0:
        raise ValueError("a fee is computed on a non-negative amount")
    rule = pricing.rule_for(amount.currency, method)
    variable = EXACT.divide(EXACT.multiply(Decimal(amount.amount), rule.percent), _HUNDRED)
    fee = to_minor(variable, FEE_ROUNDING) + rule.fixed
    return Money(min(fee, amount.amount), amount.currency)


def prorated_fee(fee: int, part: int, whole: int) -> int:
    """fee * part / whole rounded half up: the share of a fee that a partial refund returns."""
    if not 0 <= part <= whole or whole <= 0:
        raise ValueError("part must be between 0 and a positive whole")
    return divide_half_up(fee * part, whole)
