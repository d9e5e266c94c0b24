"""The kinds of risk rule. Each is pure: it reads the payment's signals and, for the rules
that count, the counts the velocity store answered, and says whether it fires and why.

A rule's `score` is what it adds when it fires; the engine sums them (capped at 100).
The rules file (docs/risk.md) names each rule and picks its kind and parameters; the
kinds are:

    amount_over       the amount exceeds a threshold of its currency
    country_mismatch  the card's issuing country is not the shopper's IP country
    bin_list          the card's BIN is on a list
    email_domain      the receipt email's domain is on a list
    funding           the card's funding (credit, debit, prepaid) is on a list
    first_time_card   the card was not seen by this merchant within a lookback window
    velocity          more than `max` payments within `window` by card, email, IP or device

Rules that count (velocity, first_time_card) never count a published test card in test
mode (PaymentSignals.counting_exempt).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from core.risk.model import Counter, CounterKey, PaymentSignals

Counts = Mapping[Counter, int]


@dataclass(frozen=True)
class Rule:
    name: str
    score: int

    kind = ""

    def counters(self, signals: PaymentSignals) -> tuple[Counter, ...]:
        """What the rule needs counted for this payment (most rules: nothing)."""
        return ()

    def fires(self, signals: PaymentSignals, counts: Counts) -> str | None:
        """An explanation when the rule fires, None when it does not."""
        raise NotImplementedError


@dataclass(frozen=True)
class AmountOver(Rule):
    """`amounts` in minor units per ISO 4217 code; a currency not listed never fires."""

    amounts: Mapping[str, int] = field(default_factory=dict)

    kind = "amount_over"

    def fires(self, signals: PaymentSignals, counts: Counts) -> str | None:
        limit = self.amounts.get(signals.amount.currency)
        if limit is None or signals.amount.amount <= limit:
            return None
        return f"amount over {limit} {signals.amount.currency}"


@dataclass(frozen=True)
class CountryMismatch(Rule):
    kind = "country_mismatch"

    def fires(self, signals: PaymentSignals, counts: Counts) -> str | None:
        card_country = signals.card.country if signals.card else ""
        if not card_country or not signals.ip_country or card_country == signals.ip_country:
            return None
        return f"card issued in {card_country}, shopper in {signals.ip_country}"


@dataclass(frozen=True)
class BinList(Rule):
    bins: frozenset[str] = frozenset()

    kind = "bin_list"

    def fires(self, signals: PaymentSignals, counts: Counts) -> str | None:
        if signals.card is None:
            return None
        # A listed prefix may be shorter than six digits (a whole range of an issuer).
        for length in range(len(signals.card.bin), 0, -1):
            if signals.card.bin[:length] in self.bins:
                return f"BIN {signals.card.bin} is listed"
        return None


@dataclass(frozen=True)
class EmailDomain(Rule):
    domains: frozenset[str] = frozenset()  # lower case

    kind = "email_domain"

    def fires(self, signals: PaymentSignals, counts: Counts) -> str | None:
        _, at, domain = signals.email.strip().lower().rpartition("@")
        if not at or domain not in self.domains:
            return None
        return f"email domain {domain} is listed"


@dataclass(frozen=True)
class Funding(Rule):
    funding: frozenset[str] = frozenset()

    kind = "funding"

    def fires(self, signals: PaymentSignals, counts: Counts) -> str | None:
        if signals.card is None or signals.card.funding not in self.funding:
            return None
        return f"{signals.card.funding} card"


@dataclass(frozen=True)
class FirstTimeCard(Rule):
    lookback: timedelta = timedelta(days=30)

    kind = "first_time_card"

    def counters(self, signals: PaymentSignals) -> tuple[Counter, ...]:
        key = counter_key(signals, CounterKey.CARD)
        return () if key is None else (Counter(key, self.lookback),)

    def fires(self, signals: PaymentSignals, counts: Counts) -> str | None:
        (counter,) = self.counters(signals) or (None,)
        if counter is None or counts.get(counter, 0) > 1:  # this payment counts itself
            return None
        return f"card not seen in {_span(self.lookback)}"


@dataclass(frozen=True)
class Velocity(Rule):
    key: CounterKey = CounterKey.CARD
    window: timedelta = timedelta(minutes=1)
    max: int = 5  # payments allowed in the window; the next one fires

    kind = "velocity"

    def counters(self, signals: PaymentSignals) -> tuple[Counter, ...]:
        key = counter_key(signals, self.key)
        return () if key is None else (Counter(key, self.window),)

    def fires(self, signals: PaymentSignals, counts: Counts) -> str | None:
        (counter,) = self.counters(signals) or (None,)
        if counter is None:
            return None
        seen = counts.get(counter, 0)
        if seen <= self.max:
            return None
        return f"{seen} payments by {self.key.value} in {_span(self.window)} (max {self.max})"


RULE_KINDS: dict[str, type[Rule]] = {
    kind.kind: kind
    for kind in (
        AmountOver,
        CountryMismatch,
        BinList,
        EmailDomain,
        Funding,
        FirstTimeCard,
        Velocity,
    )
}


def counter_key(signals: PaymentSignals, key: CounterKey) -> str | None:
    """The velocity store's key for one payment's value, or None when it is not counted.

    Per merchant and mode, and hashed: the store holds no email address or IP address in
    clear. The braces are a Redis Cluster hash tag: a merchant's counters share a slot,
    so one script can read and write all of a payment's counters at once.
    """
    if signals.counting_exempt:
        return None
    value = signals.counter_value(key)
    if not value:
        return None
    mode = "live" if signals.livemode else "test"
    digest = hashlib.sha256(f"{key.value}:{value}".encode()).hexdigest()[:32]
    return f"risk:{{{signals.merchant_id}:{mode}}}:{key.value}:{digest}"


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# Test mode: the documented "always blocked" card 4100000000000019 (API.md, test cards),
# told apart by what the vault may show outside the PCI zone.
TEST_MODE_BLOCKLIST: frozenset[tuple[str, str]] = frozenset({("410000", "0019")})


def test_card_blocked(signals: PaymentSignals) -> bool:
    card = signals.card
    return (
        not signals.livemode
        and card is not None
        and card.test_card
        and (card.bin, card.last4) in TEST_MODE_BLOCKLIST
    )
