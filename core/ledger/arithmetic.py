"""Exact decimal arithmetic and the two rounding rules of the ledger.

Every computation runs in a context that traps Inexact, so an intermediate result can never
be rounded silently; the only rounding is the explicit final step to an integer of minor
units, with the rule the caller names:

- fees round half up (ROUND_HALF_UP: 0.5 -> 1, the pricing contract merchants read);
- FX conversions round half to even (ROUND_HALF_EVEN: 0.5 -> 0, 1.5 -> 2; unbiased over
  millions of conversions, so the FX account does not drift one way).
"""

from __future__ import annotations

from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)

__all__ = ["EXACT", "FEE_ROUNDING", "FX_ROUNDING", "divide_half_up", "require_decimal", "to_minor"]

FEE_ROUNDING = ROUND_HALF_UP
FX_ROUNDING = ROUND_HALF_EVEN

# Amounts have at most 12 digits and rates or percentages a few dozen: 80 digits hold any
# product exactly, and Inexact is trapped in case one ever does not.
EXACT = Context(prec=80, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
_ROUNDING_CONTEXT = Context(prec=80, traps=[InvalidOperation, DivisionByZero, Overflow])
_ONE = Decimal(1)


def require_decimal(value: object, what: str) -> Decimal:
    """`value` as a finite Decimal; floats (and ints posing as rates) are refused by type."""
    if not isinstance(value, Decimal):
        raise TypeError(f"{what} must be a decimal.Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{what} must be finite")
    return value


def to_minor(value: Decimal, rounding: str) -> int:
    """Rounds an exact amount of minor units to an integer with the given rule."""
    return int(value.quantize(_ONE, rounding=rounding, context=_ROUNDING_CONTEXT))


def divide_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, in integers (exact for any ratio)."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("divide_half_up takes a non-negative numerator and a positive denominator")
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (1 if 2 * remainder >= denominator else 0)
