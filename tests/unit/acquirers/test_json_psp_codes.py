"""The JSON PSPs' tables are total: every status and code Orbit and Kora document has a
meaning, an unknown one is a generic decline, and each simulator speaks only documented
codes."""

from __future__ import annotations

from adapters.acquirers import kora_codes
from adapters.acquirers.orbit_codes import (
    DECLINES,
    STATUSES,
    OrbitDecline,
    OrbitStatus,
    decline_of,
    outcome_of,
)
from core.payments.acquirer import AuthorizationOutcome, DeclineCode
from core.payments.failover import RETRYABLE_DECLINES
from sandbox.psp.kora_simulator import REPLY_LOST as KORA_REPLY_LOST
from sandbox.psp.kora_simulator import TEST_CARDS as KORA_CARDS
from sandbox.psp.orbit_simulator import REPLY_LOST, TEST_CARDS


def test_every_status_and_decline_code_is_mapped() -> None:
    assert set(STATUSES) == set(OrbitStatus)
    assert set(DECLINES) == set(OrbitDecline)


def test_an_unknown_code_is_a_generic_decline_never_an_approval_or_a_retry() -> None:
    assert outcome_of("teleported") is AuthorizationOutcome.DECLINED
    outcome, code = decline_of("teleported")
    assert (outcome, code) == (AuthorizationOutcome.DECLINED, DeclineCode.GENERIC_DECLINE)
    assert code not in RETRYABLE_DECLINES
    assert decline_of(None)[1] is DeclineCode.GENERIC_DECLINE


def test_the_simulator_speaks_only_documented_codes() -> None:
    documented = {c.value for c in OrbitDecline}
    assert {c for c in TEST_CARDS.values() if c != REPLY_LOST} <= documented


def test_every_kora_status_and_gateway_response_is_mapped() -> None:
    assert set(kora_codes.STATUSES) == set(kora_codes.KoraStatus)
    assert set(kora_codes.RESPONSES) == set(kora_codes.KoraResponse)
    documented = {r.value for r in kora_codes.KoraResponse}
    assert {r for r in KORA_CARDS.values() if r != KORA_REPLY_LOST} <= documented


def test_an_unknown_kora_response_is_a_generic_decline() -> None:
    outcome, code = kora_codes.outcome_of("failed", "Cosmic Rays")
    assert (outcome, code) == (AuthorizationOutcome.DECLINED, DeclineCode.GENERIC_DECLINE)
    assert kora_codes.outcome_of("teleported", "")[0] is AuthorizationOutcome.DECLINED
    assert kora_codes.outcome_of("success", "Approved") == (AuthorizationOutcome.APPROVED, None)
