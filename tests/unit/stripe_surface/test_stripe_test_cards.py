"""Stripe's test ids land on paygate's test cards with the outcome their names promise."""

from __future__ import annotations

from sandbox.acquirer.card_network_simulator import CHALLENGE_CARD, TEST_CARDS, NetworkCode
from servers.stripe.surface import TEST_CARDS as STRIPE_TEST_IDS
from servers.stripe.surface import card_for_test_id

DECLINES = {
    "chargeDeclined": NetworkCode.DO_NOT_HONOR,
    "chargeDeclinedInsufficientFunds": NetworkCode.INSUFFICIENT_FUNDS,
    "chargeDeclinedExpiredCard": NetworkCode.EXPIRED_CARD,
    "chargeDeclinedIncorrectCvc": NetworkCode.CVV_MISMATCH,
    "chargeDeclinedProcessingError": NetworkCode.SYSTEM_MALFUNCTION,
    "riskLevelHighest": NetworkCode.ACQUIRER_RISK_BLOCK,
}
CHALLENGES = {"threeDSecureRequired", "threeDSecure2Required", "authenticationRequired"}
APPROVED = {"visa", "mastercard", "amex"}


def test_each_stripe_test_id_maps_to_the_card_with_its_outcome() -> None:
    assert set(STRIPE_TEST_IDS) == set(DECLINES) | CHALLENGES | APPROVED | {"createDispute"}
    for name, code in DECLINES.items():
        assert TEST_CARDS[STRIPE_TEST_IDS[name]].code is code, name
    for name in CHALLENGES:
        assert STRIPE_TEST_IDS[name] == CHALLENGE_CARD
    for name in APPROVED:
        assert STRIPE_TEST_IDS[name] not in TEST_CARDS
    assert TEST_CARDS[STRIPE_TEST_IDS["createDispute"]].dispute_after_capture is not None


def test_both_spellings_and_nothing_else() -> None:
    assert card_for_test_id("pm_card_visa") == card_for_test_id("tok_visa") == "4242424242424242"
    assert card_for_test_id("tok_01jhf0000000000000000000aa") is None  # paygate's own token
    assert card_for_test_id("pm_card_unknown") is None
