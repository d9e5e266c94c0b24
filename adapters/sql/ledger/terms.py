"""FX rates and merchant terms on PostgreSQL (fx_rates, merchant_terms)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    func,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.tables import (
    fx_rates,
    merchant_terms,
)
from core.ledger.fees import FeeRule, Pricing
from core.ledger.fx import FxRate, RateTable
from core.ledger.model import (
    MerchantTerms,
    PayoutSchedule,
)
from core.shared.errors import FailedPrecondition


class SqlFxRates:
    """FxRateStore over the fx_rates table: the newest rate at or before the time asked,
    else the inverse of the reverse pair (core.ledger.fx.RateTable decides, as in memory)."""

    def __init__(self, connection: AsyncConnection, *, max_age: timedelta | None = None) -> None:
        self._conn = connection
        self._max_age = max_age

    async def rate(self, base: str, quote: str, *, at: datetime) -> FxRate:
        def newest(b: str, q: str) -> Any:
            return (
                select(
                    fx_rates.c.base,
                    fx_rates.c.quote,
                    fx_rates.c.rate,
                    fx_rates.c.as_of,
                    fx_rates.c.source,
                )
                .where(fx_rates.c.base == b, fx_rates.c.quote == q, fx_rates.c.as_of <= at)
                .order_by(fx_rates.c.as_of.desc())
                .limit(1)
            )

        query = (
            newest(base, quote)
            .subquery()
            .select()
            .union_all(newest(quote, base).subquery().select())
        )
        rows = await self._conn.execute(query)
        rates = [FxRate(b, q, rate, as_of, source) for b, q, rate, as_of, source in rows]
        return RateTable(rates, max_age=self._max_age).rate(base, quote, at=at)

    async def add(self, rates: Sequence[FxRate]) -> int:
        if not rates:
            return 0
        keys = [(r.base, r.quote, r.as_of) for r in rates]
        stored = await self._conn.execute(
            select(fx_rates.c.base, fx_rates.c.quote, fx_rates.c.as_of, fx_rates.c.rate).where(
                tuple_(fx_rates.c.base, fx_rates.c.quote, fx_rates.c.as_of).in_(keys)
            )
        )
        known = {(b, q, t): rate for b, q, t, rate in stored}
        for rate in rates:
            old = known.get((rate.base, rate.quote, rate.as_of))
            if old is not None and old != rate.rate:
                raise FailedPrecondition(
                    f"{rate.base}->{rate.quote} as of {rate.as_of.isoformat()} is stored as "
                    f"{old}, not {rate.rate}: publish a correction with a new as_of.",
                    reason="FX_RATE_CONFLICT",
                )
        result = await self._conn.execute(
            pg_insert(fx_rates)
            .values(
                [
                    {
                        "base": r.base,
                        "quote": r.quote,
                        "as_of": r.as_of,
                        "rate": r.rate,
                        "source": r.source,
                    }
                    for r in rates
                ]
            )
            .on_conflict_do_nothing()
            .returning(fx_rates.c.base)
        )
        return len(result.all())


def pricing_to_json(pricing: Pricing) -> dict[str, Any]:
    def rule(r: FeeRule) -> dict[str, Any]:
        return {"percent": str(r.percent), "fixed": r.fixed}

    return {
        "default": rule(pricing.default),
        "by_currency": {c: rule(r) for c, r in pricing.by_currency.items()},
        "by_currency_and_method": [
            {"currency": c, "method": m, **rule(r)}
            for (c, m), r in pricing.by_currency_and_method.items()
        ],
        "refund_fees": pricing.refund_fees,
        "dispute_fee": pricing.dispute_fee,
        "dispute_fee_by_currency": dict(pricing.dispute_fee_by_currency),
        "refund_dispute_fee_on_win": pricing.refund_dispute_fee_on_win,
    }


def pricing_from_json(data: dict[str, Any]) -> Pricing:
    def rule(r: dict[str, Any]) -> FeeRule:
        return FeeRule(Decimal(r["percent"]), int(r["fixed"]))

    return Pricing(
        default=rule(data["default"]),
        by_currency={c: rule(r) for c, r in data.get("by_currency", {}).items()},
        by_currency_and_method={
            (r["currency"], r["method"]): rule(r) for r in data.get("by_currency_and_method", [])
        },
        refund_fees=bool(data.get("refund_fees", False)),
        dispute_fee=int(data.get("dispute_fee", 1500)),
        dispute_fee_by_currency={
            c: int(v) for c, v in data.get("dispute_fee_by_currency", {}).items()
        },
        refund_dispute_fee_on_win=bool(data.get("refund_dispute_fee_on_win", False)),
    )


class SqlMerchantTerms:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def get(self, merchant_id: str) -> MerchantTerms:
        row = (
            (
                await self._conn.execute(
                    select(merchant_terms).where(merchant_terms.c.merchant_id == merchant_id)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return MerchantTerms()
        return MerchantTerms(
            settlement_currency=row["settlement_currency"],
            settlement_delay_days=row["settlement_delay_days"],
            pricing=pricing_from_json(row["pricing"]),
            payout_schedule=PayoutSchedule(row["payout_schedule"]),
            payout_minimum=row["payout_minimum"],
        )

    async def put(self, merchant_id: str, terms: MerchantTerms) -> None:
        values = {
            "settlement_currency": terms.settlement_currency,
            "settlement_delay_days": terms.settlement_delay_days,
            "payout_schedule": terms.payout_schedule.value,
            "payout_minimum": terms.payout_minimum,
            "pricing": json.loads(json.dumps(pricing_to_json(terms.pricing))),
        }
        await self._conn.execute(
            pg_insert(merchant_terms)
            .values(merchant_id=merchant_id, **values)
            .on_conflict_do_update(
                index_elements=[merchant_terms.c.merchant_id],
                set_={**values, "updated_at": func.now()},
            )
        )


# --- settlements -----------------------------------------------------------------------
