"""The first risk rule: a block list of cards, screened before any call to an acquirer.

A blocked attempt never reaches the acquirer: no authorization is held on the payer's card,
no acquirer fee is charged, and it works the same with every connector. The use-case runs
`screen_card` in its decide phase and fails the attempt with reason RISK_BLOCKED.

Rules look only at what the vault may show outside the PCI zone (the first six and last
four digits), never at the whole number. Velocity and amount rules will join this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.shared.secret import Secret


class RiskAction(StrEnum):
    ALLOW = "ALLOW"
    BLOCK = "BLOCK"


@dataclass(frozen=True)
class CardSignals:
    iin: str  # the first six digits
    last4: str
    livemode: bool

    @classmethod
    def from_number(cls, number: Secret, *, livemode: bool) -> CardSignals:
        digits = number.reveal()
        return cls(iin=digits[:6], last4=digits[-4:], livemode=livemode)


@dataclass(frozen=True)
class RiskDecision:
    action: RiskAction
    rule: str = ""  # which rule decided, for the attempt's record and the dashboard
    reason: str = ""  # the API reason when blocked

    @property
    def blocked(self) -> bool:
        return self.action is RiskAction.BLOCK


ALLOW = RiskDecision(RiskAction.ALLOW)

# Test mode: the documented "always blocked" card 4100000000000019 (API.md, test cards).
TEST_MODE_BLOCKLIST: frozenset[tuple[str, str]] = frozenset({("410000", "0019")})


def screen_card(card: CardSignals) -> RiskDecision:
    if not card.livemode and (card.iin, card.last4) in TEST_MODE_BLOCKLIST:
        return RiskDecision(RiskAction.BLOCK, rule="test_mode_blocklist", reason="RISK_BLOCKED")
    return ALLOW
