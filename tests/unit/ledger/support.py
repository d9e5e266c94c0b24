"""Helpers shared by the ledger tests: ids, a clock, a full table of FX rates."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal

from core.ledger.fx import FxRate, RateTable
from core.ledger.model import MerchantFunds
from core.shared.ids import encode

T0 = datetime(2026, 3, 6, 15, 30, tzinfo=UTC)  # a Friday afternoon
RATES_AS_OF = datetime(2026, 3, 1, tzinfo=UTC)

# Units of each currency one US dollar buys.
PER_USD = {
    "USD": Decimal("1"),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "INR": Decimal("83.12"),
    "MAD": Decimal("10.05"),
    "JPY": Decimal("151.37"),
    "KWD": Decimal("0.3075"),
}
CURRENCIES = tuple(PER_USD)
_CROSS = Context(prec=10)


def cross_rate(base: str, quote: str) -> FxRate:
    """base->quote through the dollar, to 10 significant digits."""
    rate = _CROSS.divide(PER_USD[quote], PER_USD[base])
    return FxRate(base, quote, rate, RATES_AS_OF, "test")


def full_rate_table() -> RateTable:
    return RateTable(cross_rate(b, q) for b in CURRENCIES for q in CURRENCIES if b != q)


def rate(base: str, quote: str, value: str) -> FxRate:
    return FxRate(base, quote, Decimal(value), RATES_AS_OF, "test")


class SequentialIds:
    """Valid, strictly increasing ids: entry ids sort in the order they were made."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new(self, prefix: str) -> str:
        return encode(prefix, next(self._counter))

    def secret(self, nbytes: int = 24) -> str:
        return "s" * nbytes


class SteppingClock:
    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


def funds(merchant_id: str = "acct_m", currency: str = "USD", **balances: int) -> MerchantFunds:
    return MerchantFunds(merchant_id, currency, **balances)
