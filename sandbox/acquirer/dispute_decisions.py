"""The simulated card network's verdicts on disputes.

The simulator's rule (docs/ledger.md, "Disputes"): a dispute the merchant answered with
evidence is WON, one left without evidence is LOST. The verdict is asked for when the
dispute's decision time comes (evidence due date, or the review period after evidence),
by `Disputes.resolve_due_disputes`. A test passes its own rule to force an outcome, as
with the simulator's handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from core.ledger.records import Dispute, DisputeOutcome

if TYPE_CHECKING:
    from core.ledger.ports import DisputeDecisions

Rule = Callable[[Dispute], DisputeOutcome]


def evidence_wins(dispute: Dispute) -> DisputeOutcome:
    if dispute.evidence is not None and not dispute.evidence.empty:
        return DisputeOutcome.WON
    return DisputeOutcome.LOST


class SimulatedDisputeDecisions:
    def __init__(self, rule: Rule = evidence_wins) -> None:
        self._rule = rule

    async def outcome(self, dispute: Dispute) -> DisputeOutcome:
        return self._rule(dispute)


if TYPE_CHECKING:  # mypy proves the simulator fits the port
    _decisions: DisputeDecisions = SimulatedDisputeDecisions()
