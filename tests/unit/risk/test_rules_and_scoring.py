"""Every kind of rule, and how the engine turns the rules that fire into a score and a
decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.risk.engine import RiskEngine, RuleSet
from core.risk.model import (
    CardFacts,
    Counter,
    CounterKey,
    Decision,
    MerchantOverrides,
    PaymentSignals,
    RiskAssessment,
    Thresholds,
)
from core.risk.ports import VelocityUnavailable
from core.risk.rules import (
    AmountOver,
    BinList,
    CountryMismatch,
    EmailDomain,
    FirstTimeCard,
    Funding,
    Rule,
    Velocity,
    counter_key,
)
from core.shared.money import Money
from tests.fakes.risk import CountingVelocityStore

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
MERCHANT = "acct_01jhf0000000000000000000aa"
CARD = CardFacts(
    bin="411111", last4="1111", brand="visa", fingerprint="fp_a", funding="credit", country="US"
)
TEST_CARD = CardFacts(
    bin="424242", last4="4242", brand="visa", fingerprint="fp_t", country="US", test_card=True
)


def signals(**changes: object) -> PaymentSignals:
    base = PaymentSignals(
        merchant_id=MERCHANT, livemode=False, amount=Money(2000, "USD"), card=CARD,
        email="shopper@example.com",
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def fires(rule: Rule, s: PaymentSignals, counts: dict[Counter, int] | None = None) -> bool:
    return rule.fires(s, counts or {}) is not None


# --- each rule ----------------------------------------------------------------------------


def test_amount_over_fires_above_the_threshold_of_its_currency_only() -> None:
    rule = AmountOver("large", 50, amounts={"USD": 100_000, "JPY": 10_000})
    assert not fires(rule, signals(amount=Money(100_000, "USD")))
    assert fires(rule, signals(amount=Money(100_001, "USD")))
    assert fires(rule, signals(amount=Money(10_001, "JPY")))
    assert not fires(rule, signals(amount=Money(10**9, "EUR")))  # no threshold for EUR


def test_country_mismatch_needs_both_countries_and_a_difference() -> None:
    rule = CountryMismatch("mismatch", 30)
    assert fires(rule, signals(ip_country="DE"))
    assert not fires(rule, signals(ip_country="US"))
    assert not fires(rule, signals(ip_country=""))
    assert not fires(rule, signals(card=replace(CARD, country=""), ip_country="DE"))
    assert not fires(rule, signals(card=None, ip_country="DE"))


def test_bin_list_matches_whole_bins_and_shorter_prefixes() -> None:
    assert fires(BinList("bins", 80, bins=frozenset({"411111"})), signals())
    assert fires(BinList("bins", 80, bins=frozenset({"4111"})), signals())
    assert not fires(BinList("bins", 80, bins=frozenset({"411112", "5"})), signals())
    assert not fires(BinList("bins", 80, bins=frozenset({"4"})), signals(card=None))


def test_email_domain_compares_the_domain_in_lower_case() -> None:
    rule = EmailDomain("disposable", 30, domains=frozenset({"mailinator.com"}))
    assert fires(rule, signals(email="Someone@MAILINATOR.com"))
    assert not fires(rule, signals(email="someone@mailinator.com.example"))
    assert not fires(rule, signals(email=""))
    assert not fires(rule, signals(email="mailinator.com"))


def test_funding_fires_for_a_listed_funding() -> None:
    rule = Funding("prepaid", 10, funding=frozenset({"prepaid"}))
    assert fires(rule, signals(card=replace(CARD, funding="prepaid")))
    assert not fires(rule, signals())
    assert not fires(rule, signals(card=None))


def test_first_time_card_fires_when_this_payment_is_the_only_one_seen() -> None:
    rule = FirstTimeCard("first", 10, lookback=timedelta(days=30))
    s = signals()
    [counter] = rule.counters(s)
    assert counter.window == timedelta(days=30)
    assert fires(rule, s, {counter: 1})
    assert not fires(rule, s, {counter: 2})


def test_velocity_fires_above_max_in_its_window() -> None:
    rule = Velocity("card_velocity", 100, key=CounterKey.CARD, window=timedelta(minutes=1), max=5)
    s = signals()
    [counter] = rule.counters(s)
    assert not fires(rule, s, {counter: 5})
    assert fires(rule, s, {counter: 6})
    detail = rule.fires(s, {counter: 6})
    assert detail == "6 payments by card in 1m (max 5)"


@pytest.mark.parametrize("key", list(CounterKey))
def test_velocity_counts_by_each_key_and_skips_payments_without_one(key: CounterKey) -> None:
    rule = Velocity("v", 30, key=key, window=timedelta(hours=1), max=1)
    full = signals(email="a@example.com", ip="203.0.113.9", device_fingerprint="dev-1")
    assert len(rule.counters(full)) == 1
    empty = signals(card=None, email="", ip="", device_fingerprint="")
    assert rule.counters(empty) == ()
    assert not fires(rule, empty)


def test_counter_keys_are_per_merchant_and_mode_and_hold_no_value_in_clear() -> None:
    s = signals(email="Shopper@Example.com")
    key = counter_key(s, CounterKey.EMAIL)
    assert key is not None and "shopper" not in key.lower() and MERCHANT in key
    assert key == counter_key(signals(email="shopper@example.com"), CounterKey.EMAIL)
    assert key != counter_key(replace(s, livemode=True), CounterKey.EMAIL)
    assert key != counter_key(replace(s, merchant_id="acct_other"), CounterKey.EMAIL)


def test_published_test_cards_are_counted_in_live_mode_only() -> None:
    assert counter_key(signals(card=TEST_CARD), CounterKey.CARD) is None
    assert counter_key(signals(card=TEST_CARD), CounterKey.EMAIL) is None
    assert counter_key(signals(card=TEST_CARD, livemode=True), CounterKey.CARD) is not None
    # Same BIN and last four as a published card, but the vault says it is not one.
    lookalike = replace(TEST_CARD, test_card=False)
    assert counter_key(signals(card=lookalike), CounterKey.CARD) is not None


# --- scoring --------------------------------------------------------------------------------


class DeadStore:
    async def record_and_count(
        self, event_id: str, counters: Sequence[Counter], at: datetime
    ) -> Sequence[int]:
        raise VelocityUnavailable("down")


class RecordingObserver:
    def __init__(self) -> None:
        self.assessments: list[RiskAssessment] = []
        self.outages = 0

    def assessed(self, assessment: RiskAssessment, *, livemode: bool) -> None:
        self.assessments.append(assessment)

    def velocity_unavailable(self) -> None:
        self.outages += 1


RULES = RuleSet(
    version=3,
    thresholds=Thresholds(review=50, block=80),
    rules=(
        Velocity("card_velocity", 100, key=CounterKey.CARD, window=timedelta(minutes=1), max=5),
        Velocity("email_velocity", 30, key=CounterKey.EMAIL, window=timedelta(hours=1), max=10),
        AmountOver("large_amount", 50, amounts={"USD": 1_000_000}),
        EmailDomain("disposable_email", 30, domains=frozenset({"mailinator.com"})),
        FirstTimeCard("first_time_card", 10, lookback=timedelta(days=30)),
    ),
)


async def test_a_quiet_payment_scores_its_reasons_and_is_allowed() -> None:
    engine = RiskEngine(RULES, CountingVelocityStore())
    first = await engine.assess("pa_1", signals(), T0)
    assert (first.score, first.decision, first.rules_version) == (10, Decision.ALLOW, 3)
    assert [r.rule for r in first.reasons] == ["first_time_card"]
    second = await engine.assess("pa_2", signals(), T0 + timedelta(seconds=1))
    assert (second.score, second.reasons) == (0, ())


async def test_scores_add_up_to_the_review_band_and_cap_at_100() -> None:
    engine = RiskEngine(RULES, CountingVelocityStore())
    review = await engine.assess("pa_1", signals(amount=Money(1_000_001, "USD")), T0)
    assert (review.score, review.decision) == (60, Decision.REVIEW)
    assert review.needs_authentication and not review.blocked
    assert {r.rule: r.score for r in review.reasons} == {"large_amount": 50, "first_time_card": 10}

    heavy = signals(amount=Money(1_000_001, "USD"), email="x@mailinator.com")
    assert (await engine.assess("pa_2", heavy, T0)).decision is Decision.BLOCK
    for i in range(3, 8):
        await engine.assess(f"pa_{i}", signals(), T0)
    capped = await engine.assess("pa_9", heavy, T0)
    assert capped.score == 100 and capped.blocked


async def test_the_sixth_payment_of_a_card_within_a_minute_is_blocked() -> None:
    store = CountingVelocityStore()
    engine = RiskEngine(RULES, store)
    decisions = [
        (await engine.assess(f"pa_{i}", signals(), T0 + timedelta(seconds=i))).decision
        for i in range(6)
    ]
    assert decisions == [Decision.ALLOW] * 5 + [Decision.BLOCK]
    assert store.calls == 6  # one round trip per payment, however many counters
    later = await engine.assess("pa_x", signals(), T0 + timedelta(minutes=2))
    assert later.decision is Decision.ALLOW


async def test_published_test_cards_are_never_counted_in_test_mode() -> None:
    store = CountingVelocityStore()
    engine = RiskEngine(RULES, store)
    for i in range(10):
        assert not (await engine.assess(f"pa_{i}", signals(card=TEST_CARD), T0)).blocked
    assert store.calls == 0  # nothing to count: no round trip at all


async def test_the_always_blocked_test_card_is_blocked_in_test_mode_only() -> None:
    engine = RiskEngine(RULES, CountingVelocityStore())
    card = replace(TEST_CARD, bin="410000", last4="0019")
    blocked = await engine.assess("pa_1", signals(card=card), T0)
    assert blocked.blocked and blocked.reasons[0].rule == "test_card_blocked"
    live = await engine.assess("pa_2", signals(card=card, livemode=True), T0)
    assert not live.blocked


async def test_an_unreachable_velocity_store_skips_counting_rules_only() -> None:
    observer = RecordingObserver()
    engine = RiskEngine(RULES, DeadStore(), observer=observer)
    assessment = await engine.assess("pa_1", signals(amount=Money(1_000_001, "USD")), T0)
    assert [r.rule for r in assessment.reasons] == ["large_amount"]
    assert assessment.decision is Decision.REVIEW
    assert observer.outages == 1 and observer.assessments == [assessment]


async def test_merchant_overrides_change_thresholds_scores_and_switch_rules_off() -> None:
    class Overrides:
        async def for_merchant(self, merchant_id: str) -> MerchantOverrides:
            return MerchantOverrides(
                review_threshold=5,
                disabled_rules=frozenset({"card_velocity"}),
                scores={"first_time_card": 20},
            )

    engine = RiskEngine(RULES, CountingVelocityStore(), overrides=Overrides())
    first = await engine.assess("pa_0", signals(), T0)
    assert (first.score, first.decision) == (20, Decision.REVIEW)
    for i in range(1, 7):
        last = await engine.assess(f"pa_{i}", signals(), T0)
    assert not last.blocked  # card_velocity is off for this merchant


async def test_the_observer_sees_every_assessment() -> None:
    observer = RecordingObserver()
    engine = RiskEngine(RULES, CountingVelocityStore(), observer=observer)
    a = await engine.assess("pa_1", signals(), T0)
    b = await engine.assess("pa_2", signals(amount=Money(1_000_001, "USD")), T0)
    assert observer.assessments == [a, b]


async def test_the_shoppers_ip_country_comes_from_the_table() -> None:
    class Table:
        def country_of(self, ip: str) -> str:
            return "DE" if ip.startswith("203.0.113.") else ""

    rules = RuleSet(1, Thresholds(), (CountryMismatch("country_mismatch", 30),))
    engine = RiskEngine(rules, CountingVelocityStore(), ip_countries=Table())
    abroad = await engine.assess("pa_1", signals(ip="203.0.113.7"), T0)
    assert [r.rule for r in abroad.reasons] == ["country_mismatch"]
    assert (await engine.assess("pa_2", signals(ip="198.51.100.1"), T0)).score == 0


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError):
        Thresholds(review=90, block=80)
    with pytest.raises(ValueError):
        Thresholds(review=0, block=80)
    with pytest.raises(ValueError):
        RuleSet(1, Thresholds(), (FirstTimeCard("a", 1), FirstTimeCard("a", 2)))
