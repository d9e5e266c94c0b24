"""Ledger errors.

    Exception
    ├── UnbalancedEntry (ValueError)    a bug: an entry whose postings do not net to zero
    └── core.shared.errors.PaygateError
        ├── InvalidArgument
        │   └── AmountTooLarge          AMOUNT_TOO_LARGE: refund or dispute over what remains
        ├── FailedPrecondition
        │   ├── InsufficientFunds       BALANCE_INSUFFICIENT: a debit would take a balance
        │   │                           below zero (payouts, refunds)
        │   └── NothingToReverse        LEDGER_ENTRY_NOT_REVERSIBLE: wrong kind of entry
        └── Unavailable
            └── FxRateUnavailable       FX_RATE_UNAVAILABLE: no usable rate for the pair

UnbalancedEntry is never shown to a client: it means a movement function is wrong, and the
transaction that tried to post it rolls back.
"""

from __future__ import annotations

from core.shared.errors import FailedPrecondition, FieldViolation, InvalidArgument, Unavailable

__all__ = [
    "AmountTooLarge",
    "FxRateUnavailable",
    "InsufficientFunds",
    "NothingToReverse",
    "UnbalancedEntry",
]


class UnbalancedEntry(ValueError):
    pass


class AmountTooLarge(InvalidArgument):
    def __init__(self, field: str, description: str) -> None:
        super().__init__([FieldViolation(field, description)], reason="AMOUNT_TOO_LARGE")


class InsufficientFunds(FailedPrecondition):
    def __init__(self, *, currency: str, needed: int, available: int) -> None:
        super().__init__(
            f"The balance in {currency} is too low: {needed} minor units needed, "
            f"{available} available.",
            reason="BALANCE_INSUFFICIENT",
            metadata={"currency": currency, "needed": str(needed), "available": str(available)},
        )
        self.currency = currency
        self.needed = needed
        self.available = available


class NothingToReverse(FailedPrecondition):
    def __init__(self, message: str) -> None:
        super().__init__(message, reason="LEDGER_ENTRY_NOT_REVERSIBLE")


class FxRateUnavailable(Unavailable):
    def __init__(self, base: str, quote: str) -> None:
        super().__init__(
            f"No usable exchange rate from {base} to {quote}.",
            reason="FX_RATE_UNAVAILABLE",
            metadata={"base": base, "quote": quote},
        )
        self.base = base
        self.quote = quote
