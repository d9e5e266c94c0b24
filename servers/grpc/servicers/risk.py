"""A merchant's risk settings: proto -> use-case -> proto, nothing else."""

from __future__ import annotations

from paygate.v1 import risk_pb2, risk_pb2_grpc

from core.risk.model import MerchantOverrides
from core.risk.overrides import RiskSettings
from servers.grpc.context import ServicerContext, caller


class RiskService(risk_pb2_grpc.RiskServiceServicer):
    def __init__(self, settings: RiskSettings) -> None:
        self._settings = settings

    async def GetRiskSettings(
        self, request: risk_pb2.GetRiskSettingsRequest, context: ServicerContext
    ) -> risk_pb2.RiskSettings:
        return self._render(await self._settings.get(caller()))

    async def UpdateRiskSettings(
        self, request: risk_pb2.UpdateRiskSettingsRequest, context: ServicerContext
    ) -> risk_pb2.RiskSettings:
        overrides = MerchantOverrides(
            review_threshold=(
                request.review_threshold.value if request.HasField("review_threshold") else None
            ),
            block_threshold=(
                request.block_threshold.value if request.HasField("block_threshold") else None
            ),
            disabled_rules=frozenset(request.disabled_rules),
            scores=dict(request.scores),
        )
        return self._render(await self._settings.update(caller(), overrides))

    def _render(self, overrides: MerchantOverrides) -> risk_pb2.RiskSettings:
        rules = self._settings.rules
        thresholds, applied = rules.for_merchant(overrides)
        scores = {rule.name: rule.score for rule in applied}
        message = risk_pb2.RiskSettings(
            rules_version=rules.version,
            review_threshold=thresholds.review,
            block_threshold=thresholds.block,
            rules=[
                risk_pb2.RiskSettings.Rule(
                    name=rule.name,
                    kind=rule.kind,
                    score=scores.get(rule.name, rule.score),
                    enabled=rule.name in scores,
                )
                for rule in rules.rules
            ],
        )
        own = message.overrides
        if overrides.review_threshold is not None:
            own.review_threshold.value = overrides.review_threshold
        if overrides.block_threshold is not None:
            own.block_threshold.value = overrides.block_threshold
        own.disabled_rules.extend(sorted(overrides.disabled_rules))
        own.scores.update(overrides.scores)
        return message
