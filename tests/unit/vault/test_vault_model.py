from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.shared.errors import FailedPrecondition
from core.vault.errors import (
    CiphertextRejected,
    PaymentMethodRevoked,
    TokenAlreadyUsed,
    TokenExpired,
    TokenRevoked,
)
from core.vault.model import (
    TOKEN_TTL,
    Brand,
    CardSummary,
    DataKey,
    EncryptedCard,
    Funding,
    KeyMaterial,
    Pan,
    PaymentMethod,
    PaymentMethodStatus,
    RotationPolicy,
    RotationReason,
    SensitiveCard,
    Token,
    TokenStatus,
    next_data_key_version,
)

T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
SUMMARY = CardSummary(Brand.VISA, "4242", 12, 2030, "f" * 32, Funding.CREDIT, "US")
SEALED = EncryptedCard(b"\x01sealed", "dek_1", 1)


def token() -> Token:
    return Token.create(
        id="tok_1",
        merchant_id="acct_a",
        livemode=False,
        card=SUMMARY,
        encrypted_card=SEALED,
        created=T0,
    )


# ---------------------------------------------------------------------- tokens


def test_a_new_token_is_active_for_fifteen_minutes() -> None:
    t = token()
    assert t.status is TokenStatus.ACTIVE
    assert t.expires_at - t.created == TOKEN_TTL == timedelta(minutes=15)
    assert not t.is_expired(T0 + timedelta(minutes=14, seconds=59))
    assert t.is_expired(T0 + TOKEN_TTL)


def test_use_hands_back_the_ciphertext_once_and_forgets_it() -> None:
    t = token()
    assert t.use(T0) == SEALED
    assert (t.status, t.used, t.used_at, t.encrypted_card) == (TokenStatus.USED, True, T0, None)


def test_reusing_a_used_token_is_token_already_used() -> None:
    t = token()
    t.use(T0)
    with pytest.raises(TokenAlreadyUsed) as exc:
        t.use(T0)
    assert isinstance(exc.value, FailedPrecondition)
    assert exc.value.reason == "TOKEN_ALREADY_USED"
    assert "tok_1" in exc.value.message


def test_an_expired_token_is_token_expired() -> None:
    t = token()
    with pytest.raises(TokenExpired) as exc:
        t.use(T0 + TOKEN_TTL)
    assert exc.value.reason == "TOKEN_EXPIRED"
    assert t.status is TokenStatus.ACTIVE  # use() raised before changing anything
    t.expire(T0 + TOKEN_TTL)
    assert (t.status, t.encrypted_card) == (TokenStatus.EXPIRED, None)
    with pytest.raises(TokenExpired):
        t.use(T0)  # EXPIRED stays expired, whatever the clock says


def test_expire_before_the_deadline_changes_nothing() -> None:
    t = token()
    t.expire(T0 + TOKEN_TTL - timedelta(seconds=1))
    assert t.status is TokenStatus.ACTIVE


def test_a_revoked_token_cannot_be_used() -> None:
    t = token()
    t.revoke()
    assert (t.status, t.encrypted_card) == (TokenStatus.REVOKED, None)
    with pytest.raises(TokenRevoked) as exc:
        t.use(T0)
    assert exc.value.reason == "TOKEN_REVOKED"


def test_terminal_token_states_do_not_move() -> None:
    t = token()
    t.use(T0)
    t.revoke()
    t.expire(T0 + timedelta(days=1))
    assert t.status is TokenStatus.USED


def test_an_active_token_without_its_card_is_an_integrity_error() -> None:
    t = token()
    t.encrypted_card = None
    with pytest.raises(CiphertextRejected):
        t.use(T0)


def test_token_repr_shows_no_ciphertext() -> None:
    assert "sealed" not in repr(token())


# -------------------------------------------------------------- payment methods


def test_revoking_a_payment_method_erases_its_card_and_is_idempotent() -> None:
    pm = PaymentMethod("pm_1", "acct_a", False, SUMMARY, SEALED, T0)
    assert pm.ensure_usable() == SEALED
    pm.revoke(T0)
    pm.revoke(T0 + timedelta(hours=1))
    assert (pm.status, pm.encrypted_card, pm.revoked_at) == (PaymentMethodStatus.REVOKED, None, T0)
    with pytest.raises(PaymentMethodRevoked) as exc:
        pm.ensure_usable()
    assert exc.value.reason == "PAYMENT_METHOD_REVOKED"


# -------------------------------------------------------------------- data keys


def data_key(**kw: object) -> DataKey:
    fields: dict[str, object] = {
        "id": "dek_1",
        "merchant_id": "acct_a",
        "version": 1,
        "wrapped_key": b"w",
        "kek_id": "kek-1",
        "created": T0,
    }
    fields.update(kw)
    return DataKey(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("age", "encryptions", "reason"),
    [
        (timedelta(0), 0, None),
        (timedelta(days=89, hours=23), 999_999, None),
        (timedelta(days=90), 0, RotationReason.AGE),
        (timedelta(days=1), 1_000_000, RotationReason.USAGE),
        (timedelta(days=400), 5_000_000, RotationReason.AGE),
    ],
)
def test_default_rotation_policy(
    age: timedelta, encryptions: int, reason: RotationReason | None
) -> None:
    key = data_key(encryptions=encryptions)
    assert RotationPolicy().reason_to_rotate(key, T0 + age) is reason


def test_rotation_limits_are_configurable() -> None:
    policy = RotationPolicy(max_age=timedelta(days=7), max_encryptions=10)
    assert policy.reason_to_rotate(data_key(), T0 + timedelta(days=7)) is RotationReason.AGE
    assert policy.reason_to_rotate(data_key(encryptions=10), T0) is RotationReason.USAGE
    assert policy.reason_to_rotate(data_key(encryptions=9), T0) is None


def test_a_retired_key_never_encrypts_again() -> None:
    key = data_key()
    key.retire(T0)
    key.retire(T0 + timedelta(days=1))
    assert key.retired_at == T0 and not key.active
    assert RotationPolicy().reason_to_rotate(key, T0) is RotationReason.RETIRED


@pytest.mark.parametrize(
    "kw", [{"max_age": timedelta(0)}, {"max_encryptions": 0}, {"max_encryptions": 2**32 + 1}]
)
def test_nonsense_rotation_policies_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RotationPolicy(**kw)  # type: ignore[arg-type]


def test_versions_count_up_from_one() -> None:
    assert next_data_key_version(None) == 1
    assert next_data_key_version(data_key(version=7)) == 8


def test_data_key_repr_shows_no_key_bytes() -> None:
    assert "secretwrap" not in repr(data_key(wrapped_key=b"secretwrap"))
    assert "\\x01" not in repr(KeyMaterial(bytes(range(32))))


# ------------------------------------------------------------------- payloads


def test_card_payload_round_trips_and_is_versioned() -> None:
    card = SensitiveCard(Pan("4242424242424242"), "Jenny Rosen")
    assert SensitiveCard.from_bytes(card.to_bytes()) == card
    with pytest.raises(ValueError):
        SensitiveCard.from_bytes(b'{"v":2,"pan":"1"}')
