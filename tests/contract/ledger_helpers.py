"""Builders shared by the ledger contract tests: rates, hooks and a posted capture."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.ledger.fx import FxRate
from core.ledger.hooks import LedgerHooks
from core.ledger.model import JournalEntry, MerchantTerms
from core.shared.ports import IdGenerator
from core.unit_of_work import UnitOfWorkFactory

# A Tuesday, so T+2 is a Thursday; microseconds survive PostgreSQL's round trip.
# Long past, so that no e2e test (which reconciles a recent day, platform-wide) sees it.
DAY0 = datetime(2025, 3, 4, tzinfo=UTC)
T0 = DAY0 + timedelta(hours=10, microseconds=123456)
RATES_AS_OF = DAY0 - timedelta(days=1)

RATES = (
    FxRate("EUR", "USD", Decimal("1.0869"), RATES_AS_OF, "ecb"),
    FxRate("USD", "JPY", Decimal("151.37"), RATES_AS_OF, "ecb"),
    FxRate("GBP", "USD", Decimal("1.2658"), RATES_AS_OF, "ecb"),
)


def at(hours: float = 0, days: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, days=days)


async def load_rates(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.fx_rates.add(RATES)
        await uow.commit()


async def set_terms(uow_factory: UnitOfWorkFactory, merchant_id: str, terms: MerchantTerms) -> None:
    async with uow_factory() as uow:
        await uow.merchant_terms.put(merchant_id, terms)
        await uow.commit()


async def capture(
    uow_factory: UnitOfWorkFactory,
    ids: IdGenerator,
    merchant_id: str,
    amount: int,
    currency: str = "USD",
    *,
    when: datetime = T0,
    payment_intent_id: str = "",
    reference: str = "",
) -> JournalEntry:
    """A capture posted through the hook in a committed unit of work."""
    async with uow_factory() as uow:
        entry = await LedgerHooks(ids).on_capture(
            uow,
            merchant_id,
            payment_intent_id or ids.new("pi"),
            amount,
            currency,
            "card",
            when,
            capture_reference=reference or f"cap_{ids.secret(8)}",
        )
        await uow.commit()
    return entry
