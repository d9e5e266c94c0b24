"""The risk context on PostgreSQL: a merchant's overrides, and a risk assessment as the
JSONB that payment_attempts.risk and payment_intents.risk hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.tables import risk_overrides
from core.risk.model import NO_OVERRIDES, Decision, MerchantOverrides, Reason, RiskAssessment


def assessment_json(assessment: RiskAssessment | None) -> dict[str, Any] | None:
    if assessment is None:
        return None
    return {
        "score": assessment.score,
        "decision": assessment.decision.value,
        "rules_version": assessment.rules_version,
        "reasons": [
            {"rule": r.rule, "kind": r.kind, "score": r.score, "detail": r.detail}
            for r in assessment.reasons
        ],
    }


def assessment_of(value: dict[str, Any] | None) -> RiskAssessment | None:
    if value is None:
        return None
    return RiskAssessment(
        score=value["score"],
        decision=Decision(value["decision"]),
        rules_version=value.get("rules_version", 0),
        reasons=tuple(Reason(**reason) for reason in value["reasons"]),
    )


class SqlRiskOverrides:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def for_merchant(self, merchant_id: str) -> MerchantOverrides:
        t = risk_overrides.c
        row = (
            (await self._conn.execute(select(risk_overrides).where(t.merchant_id == merchant_id)))
            .mappings()
            .first()
        )
        if row is None:
            return NO_OVERRIDES
        return MerchantOverrides(
            review_threshold=row["review_threshold"],
            block_threshold=row["block_threshold"],
            disabled_rules=frozenset(row["disabled_rules"]),
            scores=dict(row["scores"]),
        )

    async def set(self, merchant_id: str, overrides: MerchantOverrides, at: datetime) -> None:
        if overrides.empty:
            await self._conn.execute(
                delete(risk_overrides).where(risk_overrides.c.merchant_id == merchant_id)
            )
            return
        values = {
            "review_threshold": overrides.review_threshold,
            "block_threshold": overrides.block_threshold,
            "disabled_rules": sorted(overrides.disabled_rules),
            "scores": dict(overrides.scores),
            "updated_at": at,
        }
        statement = pg_insert(risk_overrides).values(merchant_id=merchant_id, **values)
        await self._conn.execute(
            statement.on_conflict_do_update(index_elements=["merchant_id"], set_=values)
        )
