"""The port's value objects: VPA rules, error mapping, what is final and what is retryable."""

from __future__ import annotations

import dataclasses

import pytest

from core.payments.acquirer import (
    FINAL_OUTCOMES,
    AcquirerError,
    AcquirerRejected,
    AcquirerTimeout,
    AcquirerUnavailable,
    AuthorizationOutcome,
    AuthorizationResult,
    Card,
    InvalidPaymentDetails,
    normalize_vpa,
    parse_vpa,
)
from core.shared.errors import InvalidArgument
from core.shared.money import Money
from core.shared.secret import Secret


def test_vpas_are_canonical_lower_case() -> None:
    assert normalize_vpa("  Alice.B@OKAXIS ") == "alice.b@okaxis"
    assert normalize_vpa("alice@ok-axis") is None
    assert parse_vpa("Bob@ybl") == "bob@ybl"


def test_parse_vpa_raises_invalid_argument_naming_the_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_vpa("bob")
    assert caught.value.metadata["param"] == "upi.vpa"
    assert [v.field for v in caught.value.violations] == ["upi.vpa"]


def test_error_hierarchy() -> None:
    assert issubclass(AcquirerTimeout, AcquirerError)
    assert issubclass(AcquirerUnavailable, AcquirerError)
    assert issubclass(InvalidPaymentDetails, AcquirerRejected)
    assert not issubclass(AcquirerTimeout, AcquirerRejected)  # unknown is not a refusal


def test_pending_outcomes_are_not_final() -> None:
    pending = set(AuthorizationOutcome) - FINAL_OUTCOMES
    assert pending == {AuthorizationOutcome.REQUIRES_ACTION, AuthorizationOutcome.PENDING}


def test_only_processing_errors_are_retryable() -> None:
    for outcome in AuthorizationOutcome:
        result = AuthorizationResult("pa_1", outcome, Money(1, "USD"))
        assert result.retryable is (outcome is AuthorizationOutcome.PROCESSING_ERROR)


def test_value_objects_are_frozen_and_cards_keep_their_secrets() -> None:
    card = Card(Secret("4242424242424242"), 1, 2030, "visa", cvc=Secret("123"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.brand = "amex"  # type: ignore[misc]
    assert "4242424242424242" not in repr(card) and "123" not in repr(card)
    assert card.last4 == "4242"
