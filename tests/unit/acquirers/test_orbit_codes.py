"""Orbit's tables are total: every status and decline code Orbit documents has a meaning,
an unknown one is a generic decline, and the simulator speaks only documented codes."""

from __future__ import annotations

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
