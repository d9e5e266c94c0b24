"""What the risk engine reads and what it answers.

The engine sees a payment through `PaymentSignals`: the amount, what the vault may say
about the card outside the cardholder-data zone (`CardFacts`: BIN, last four, brand,
funding, country, the keyed fingerprint), the receipt email, the shopper's address and
device. Never a card number.

It answers a `RiskAssessment`: a score from 0 to 100, the reasons that produced it, and
the decision the thresholds give: ALLOW, REVIEW (the payment goes through 3-D Secure) or
BLOCK (it fails with RISK_BLOCKED and never reaches an acquirer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from core.shared.money import Money

MAX_SCORE = 100
DEFAULT_REVIEW_THRESHOLD = 50
DEFAULT_BLOCK_THRESHOLD = 80


class Decision(StrEnum):
    ALLOW = "ALLOW"
    REVIEW = "REVIEW"  # the payer must authenticate (3-D Secure)
    BLOCK = "BLOCK"  # RISK_BLOCKED, before any acquirer


class CounterKey(StrEnum):
    """What a velocity rule counts payments by."""

    CARD = "card"  # the card's keyed fingerprint
    EMAIL = "email"  # the receipt email
    IP = "ip"  # the shopper's address (a browser confirming with the publishable key)
    DEVICE = "device"  # the device fingerprint the checkout sends


@dataclass(frozen=True)
class CardFacts:
    """What the vault says about a card, and nothing it must keep to itself."""

    bin: str  # the first six digits
    last4: str
    brand: str
    fingerprint: str  # keyed per merchant: the same card gives the same value
    funding: str = ""  # credit | debit | prepaid | unknown
    country: str = ""  # ISO 3166-1 alpha-2 of the issuer, "" when unknown
    # One of the published test card numbers (API.md): exempt from counting rules in
    # test mode, so integrations and load tests can reuse them.
    test_card: bool = False


@dataclass(frozen=True)
class PaymentSignals:
    merchant_id: str
    livemode: bool
    amount: Money
    card: CardFacts | None = None  # None for payments without a card (UPI)
    email: str = ""
    ip: str = ""
    ip_country: str = ""
    device_fingerprint: str = ""

    def counter_value(self, key: CounterKey) -> str:
        """The value a velocity rule counts by; "" when the payment has none."""
        if key is CounterKey.CARD:
            return self.card.fingerprint if self.card else ""
        if key is CounterKey.EMAIL:
            return self.email.strip().lower()
        if key is CounterKey.IP:
            return self.ip
        return self.device_fingerprint

    @property
    def counting_exempt(self) -> bool:
        """Published test cards in test mode are not counted (velocity, first-time card)."""
        return not self.livemode and self.card is not None and self.card.test_card


@dataclass(frozen=True)
class Counter:
    """One question to the velocity store: how many payments under `key` in `window`."""

    key: str
    window: timedelta


@dataclass(frozen=True)
class Reason:
    """One rule that fired: its name (from the rules file), its kind, what it added to
    the score, and a short explanation without personal data."""

    rule: str
    kind: str
    score: int
    detail: str = ""


@dataclass(frozen=True)
class RiskAssessment:
    score: int
    decision: Decision
    reasons: tuple[Reason, ...] = ()
    rules_version: int = 0

    @property
    def blocked(self) -> bool:
        return self.decision is Decision.BLOCK

    @property
    def needs_authentication(self) -> bool:
        return self.decision is Decision.REVIEW


@dataclass(frozen=True)
class Thresholds:
    review: int = DEFAULT_REVIEW_THRESHOLD
    block: int = DEFAULT_BLOCK_THRESHOLD

    def __post_init__(self) -> None:
        if not 0 < self.block <= MAX_SCORE:
            raise ValueError(f"block_threshold must be between 1 and {MAX_SCORE}")
        if not 0 < self.review <= self.block:
            raise ValueError("review_threshold must be between 1 and block_threshold")

    def decide(self, score: int) -> Decision:
        if score >= self.block:
            return Decision.BLOCK
        if score >= self.review:
            return Decision.REVIEW
        return Decision.ALLOW


@dataclass(frozen=True)
class MerchantOverrides:
    """A merchant's own changes to the rules file: other thresholds, rules switched off,
    other scores for named rules. Empty fields keep the file's values."""

    review_threshold: int | None = None
    block_threshold: int | None = None
    disabled_rules: frozenset[str] = frozenset()
    scores: dict[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return (
            self.review_threshold is None
            and self.block_threshold is None
            and not self.disabled_rules
            and not self.scores
        )


NO_OVERRIDES = MerchantOverrides()
