from __future__ import annotations

import pickle
import re
from datetime import timedelta

import pytest

from core.access.model import Principal
from core.shared.errors import InvalidArgument, NotFound
from core.shared.secret import Secret
from core.vault.cards import CardInput
from core.vault.errors import (
    CiphertextRejected,
    KeyUnavailable,
    PaymentMethodRevoked,
    TokenAlreadyUsed,
    TokenExpired,
)
from core.vault.keyring import ENCRYPTION_BLOCK
from core.vault.model import (
    Brand,
    CardForAuthorization,
    CipherContext,
    DataKey,
    DataKeyRef,
    Funding,
    PaymentMethodStatus,
    RotationPolicy,
    TokenStatus,
)
from tests.unit.vault.fakes import FakeDataKeys, Harness, make_vault, principal

MERCHANT = principal("acct_a")
OTHER = principal("acct_b")
VISA = "4242424242424242"


def card(number: str = VISA, cvc: str = "123", name: str = "Jenny Rosen") -> CardInput:
    return CardInput(Secret(number), exp_month=12, exp_year=2030, cvc=Secret(cvc), name=name)


@pytest.fixture
def h() -> Harness:
    return make_vault()


async def pay(h: Harness, caller: Principal, payment_method: str) -> CardForAuthorization:
    """The card for one authorization, as the payments core asks for it."""
    return await h.vault.detokenize_for_payment(
        caller.merchant_id,
        payment_method,
        purpose="authorize pa_test",
        actor="in-process:payments",
        livemode=caller.livemode,
    )


# ------------------------------------------------------------------ tokenize


async def test_tokenize_returns_only_the_card_summary(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card("4000002760003184"))
    assert token.id.startswith("tok_")
    assert token.status is TokenStatus.ACTIVE and not token.used
    assert token.expires_at == h.clock.now() + timedelta(minutes=15)
    summary = token.card
    assert (summary.brand, summary.last4, summary.exp_month, summary.exp_year) == (
        Brand.VISA,
        "3184",
        12,
        2030,
    )
    assert (summary.funding, summary.country) == (Funding.CREDIT, "DE")
    assert len(summary.fingerprint) == 32


async def test_nothing_stored_holds_the_pan_or_cvc_in_clear(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card(VISA, cvc="987"))
    await h.vault.create_payment_method_from_token(MERCHANT, token.id)
    stored = pickle.dumps(h.store.tables)
    for secret in (VISA.encode(), VISA[:12].encode(), b"Jenny Rosen"):
        assert secret not in stored
    # Three digits turn up by chance in a fingerprint's hex or an id, so the CVC is looked
    # for as a value of its own, not as a substring of the pickle.
    assert "987" not in _text_values(h.store.tables)
    assert len(h.cvcs) == 1  # the CVC lives in memory only, moved to the payment method


def _text_values(value: object, seen: set[int] | None = None) -> set[str]:
    """Every string and decoded byte string held anywhere in `value`, split on anything
    that is not a letter or a digit."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return set()
    seen.add(id(value))
    if isinstance(value, str | bytes):
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        return set(re.split(r"[^0-9A-Za-z]+", text))
    if isinstance(value, dict):
        children: list[object] = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        children = list(value)
    elif hasattr(value, "__dict__") or hasattr(value, "__slots__"):
        slots = getattr(type(value), "__slots__", ())
        children = [*vars(value).values()] if hasattr(value, "__dict__") else []
        children += [getattr(value, name) for name in slots if hasattr(value, name)]
    else:
        return set()
    found: set[str] = set()
    for child in children:
        found |= _text_values(child, seen)
    return found


async def test_invalid_card_stores_nothing(h: Harness) -> None:
    with pytest.raises(InvalidArgument) as exc:
        await h.vault.tokenize_card(MERCHANT, card("4242424242424241"))
    assert exc.value.reason == "INVALID_NUMBER"
    assert h.store.commits == 0 and not h.store.tables.data_keys


async def test_the_same_card_gets_the_same_fingerprint_per_merchant_only(h: Harness) -> None:
    one = await h.vault.tokenize_card(MERCHANT, card())
    two = await h.vault.tokenize_card(MERCHANT, card("4242-4242-4242-4242", name=""))
    elsewhere = await h.vault.tokenize_card(OTHER, card())
    assert one.card.fingerprint == two.card.fingerprint
    assert elsewhere.card.fingerprint != one.card.fingerprint


async def test_each_merchant_has_its_own_data_key(h: Harness) -> None:
    await h.vault.tokenize_card(MERCHANT, card())
    await h.vault.tokenize_card(MERCHANT, card())
    await h.vault.tokenize_card(OTHER, card())
    keys = sorted(h.store.tables.data_keys.values(), key=lambda k: k.merchant_id)
    # Two encryptions per card: the card, and its CVC (sealed for the CVC store). The first
    # tokenization of each key also counts a block of 1,000 that the next ones use up.
    assert [(k.merchant_id, k.version, k.encryptions) for k in keys] == [
        ("acct_a", 1, 2 + ENCRYPTION_BLOCK),
        ("acct_b", 1, 2 + ENCRYPTION_BLOCK),
    ]
    assert all(k.kek_id == "kek-1" and len(k.wrapped_key) > 32 for k in keys)


# ------------------------------------------------------------ consume a token


async def test_consume_gives_the_card_once(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card(cvc="321"))
    auth = await pay(h, MERCHANT, token.id)
    assert auth.pan.reveal() == VISA
    assert auth.cvc == Secret("321")
    assert (auth.exp_month, auth.exp_year, auth.name) == (12, 2030, "Jenny Rosen")
    assert auth.card == token.card
    assert "4242424242424242" not in repr(auth)
    stored = h.store.tables.tokens[token.id]
    assert stored.status is TokenStatus.USED and stored.encrypted_card is None
    assert len(h.cvcs) == 0

    with pytest.raises(TokenAlreadyUsed) as exc:
        await pay(h, MERCHANT, token.id)
    assert exc.value.reason == "TOKEN_ALREADY_USED"


async def test_an_expired_token_is_recorded_expired_and_forgets_its_card(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card())
    h.clock.advance(minutes=15)
    with pytest.raises(TokenExpired) as exc:
        await pay(h, MERCHANT, token.id)
    assert exc.value.reason == "TOKEN_EXPIRED"
    stored = h.store.tables.tokens[token.id]
    assert stored.status is TokenStatus.EXPIRED and stored.encrypted_card is None
    assert len(h.cvcs) == 0


async def test_a_token_one_second_before_expiry_still_works(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card())
    h.clock.advance(minutes=14, seconds=59)
    assert (await pay(h, MERCHANT, token.id)).pan.last4 == "4242"


@pytest.mark.parametrize("token_id", ["tok_nope", "pm_01jd0000000000000000000000", ""])
async def test_unknown_tokens_are_not_found(h: Harness, token_id: str) -> None:
    with pytest.raises(NotFound) as exc:
        await pay(h, MERCHANT, token_id)
    assert exc.value.metadata["param"] == "payment_method"


async def test_another_merchants_token_or_mode_is_not_found(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card())
    with pytest.raises(NotFound):
        await pay(h, OTHER, token.id)
    with pytest.raises(NotFound):
        await pay(h, principal("acct_a", livemode=True), token.id)
    assert h.store.tables.tokens[token.id].status is TokenStatus.ACTIVE


async def test_a_ciphertext_copied_to_another_row_does_not_decrypt(h: Harness) -> None:
    victim = await h.vault.tokenize_card(MERCHANT, card())
    attacker = await h.vault.tokenize_card(MERCHANT, card("5555555555554444"))
    tables = h.store.tables
    tables.tokens[attacker.id].encrypted_card = tables.tokens[victim.id].encrypted_card
    with pytest.raises(CiphertextRejected):
        await pay(h, MERCHANT, attacker.id)
    assert tables.tokens[attacker.id].status is TokenStatus.ACTIVE  # nothing half-written


async def test_a_ciphertext_copied_to_another_merchant_does_not_decrypt(h: Harness) -> None:
    victim = await h.vault.tokenize_card(MERCHANT, card())
    theirs = await h.vault.tokenize_card(OTHER, card("5555555555554444"))
    tables = h.store.tables
    tables.tokens[theirs.id].encrypted_card = tables.tokens[victim.id].encrypted_card
    with pytest.raises(CiphertextRejected):  # acct_a's data key is not acct_b's to load
        await pay(h, OTHER, theirs.id)
    # Even with the key lookup out of the way, the associated data refuses it.
    sealed = tables.tokens[victim.id].encrypted_card
    assert sealed is not None
    key = tables.data_keys[sealed.key_id]
    material = await h.kek.unwrap(key.wrapped_key, merchant_id="acct_a", ref=key.ref)
    with pytest.raises(CiphertextRejected):
        h.cipher.decrypt(material, sealed.ciphertext, context=CipherContext("acct_b", theirs.id))


async def test_a_kek_outage_is_unavailable_and_writes_nothing(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card())
    h.kek.down = True
    with pytest.raises(KeyUnavailable) as exc:
        await pay(h, MERCHANT, token.id)
    assert exc.value.reason == "VAULT_KEY_UNAVAILABLE"
    assert h.store.tables.tokens[token.id].status is TokenStatus.ACTIVE
    h.kek.down = False
    assert (await pay(h, MERCHANT, token.id)).pan.last4 == "4242"


# ---------------------------------------------------------- payment methods


async def test_a_payment_method_is_reusable_and_carries_the_cvc_once(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card(cvc="555"))
    pm = await h.vault.create_payment_method_from_token(MERCHANT, token.id, customer_id="cus_42")
    assert pm.id.startswith("pm_") and pm.customer_id == "cus_42" and pm.card == token.card
    assert h.store.tables.tokens[token.id].status is TokenStatus.USED

    first = await pay(h, MERCHANT, pm.id)
    second = await pay(h, MERCHANT, pm.id)
    assert first.pan.reveal() == second.pan.reveal() == VISA
    assert (first.cvc, second.cvc) == (Secret("555"), None)

    with pytest.raises(TokenAlreadyUsed):
        await h.vault.create_payment_method_from_token(MERCHANT, token.id)


async def test_the_payment_method_ciphertext_is_its_own(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card())
    sealed_for_token = h.store.tables.tokens[token.id].encrypted_card
    pm = await h.vault.create_payment_method_from_token(MERCHANT, token.id)
    sealed_for_pm = h.store.tables.payment_methods[pm.id].encrypted_card
    assert sealed_for_token is not None and sealed_for_pm is not None
    assert sealed_for_pm.ciphertext != sealed_for_token.ciphertext
    # token: card + CVC (and a block); payment method: card + the CVC sealed again.
    assert h.store.tables.data_keys[sealed_for_pm.key_id].encryptions == 4 + ENCRYPTION_BLOCK


async def test_revoked_payment_methods_never_pay_again(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card())
    pm = await h.vault.create_payment_method_from_token(MERCHANT, token.id)
    revoked = await h.vault.revoke_payment_method(MERCHANT, pm.id)
    assert revoked.status is PaymentMethodStatus.REVOKED
    assert h.store.tables.payment_methods[pm.id].encrypted_card is None
    assert len(h.cvcs) == 0
    with pytest.raises(PaymentMethodRevoked):
        await pay(h, MERCHANT, pm.id)
    assert (await h.vault.revoke_payment_method(MERCHANT, pm.id)).revoked_at == revoked.revoked_at
    with pytest.raises(NotFound):
        await h.vault.revoke_payment_method(OTHER, pm.id)


async def test_a_bad_customer_id_is_invalid_argument(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card())
    with pytest.raises(InvalidArgument) as exc:
        await h.vault.create_payment_method_from_token(MERCHANT, token.id, customer_id="a b")
    assert exc.value.metadata["param"] == "customer"
    assert h.store.tables.tokens[token.id].status is TokenStatus.ACTIVE


# ------------------------------------------------------------------ rotation


async def test_rotation_by_age_keeps_old_ciphertexts_readable() -> None:
    h = make_vault(rotation=RotationPolicy(max_age=timedelta(days=90)))
    saved = await h.vault.create_payment_method_from_token(
        MERCHANT, (await h.vault.tokenize_card(MERCHANT, card())).id
    )
    h.clock.advance(days=90, minutes=-1)
    last_under_v1 = await h.vault.tokenize_card(MERCHANT, card())
    h.clock.advance(minutes=1)
    first_under_v2 = await h.vault.tokenize_card(MERCHANT, card("5555555555554444"))

    tables = h.store.tables
    old = tables.tokens[last_under_v1.id].encrypted_card
    new = tables.tokens[first_under_v2.id].encrypted_card
    assert old is not None and new is not None
    assert (old.key_version, new.key_version) == (1, 2)
    assert h.cipher.key_ref(new.ciphertext).version == 2
    versions = {k.version: k for k in tables.data_keys.values()}
    assert versions[1].retired_at == h.clock.now() and versions[2].active

    # Everything sealed under version 1 still decrypts after the rotation.
    assert (await pay(h, MERCHANT, saved.id)).pan.last4 == "4242"
    auth = await pay(h, MERCHANT, last_under_v1.id)
    assert auth.pan.reveal() == VISA
    # And a payment method made now is sealed under version 2.
    pm = await h.vault.create_payment_method_from_token(MERCHANT, first_under_v2.id)
    sealed = h.store.tables.payment_methods[pm.id].encrypted_card
    assert sealed is not None and sealed.key_version == 2


async def test_tokenizations_count_their_encryptions_in_blocks_ahead_of_use() -> None:
    h = make_vault(rotation=RotationPolicy(max_encryptions=10_000))  # blocks of 10
    for made in range(1, 8):
        await h.vault.tokenize_card(MERCHANT, card())  # the card and its CVC
        (key,) = h.store.tables.data_keys.values()
        assert key.encryptions >= 2 * made  # never behind
    # The 1st counted 2 + 10, the 2nd to 6th used the block up, the 7th counted 2 + 10.
    assert key.encryptions == 24


async def test_rotation_by_usage() -> None:
    h = make_vault(rotation=RotationPolicy(max_encryptions=2))
    tokens = [await h.vault.tokenize_card(MERCHANT, card(cvc="")) for _ in range(5)]
    versions = []
    for token in tokens:
        sealed = h.store.tables.tokens[token.id].encrypted_card
        assert sealed is not None
        versions.append(sealed.key_version)
    assert versions == [1, 1, 2, 2, 3]
    for token in tokens:
        assert (await pay(h, MERCHANT, token.id)).pan.reveal() == VISA


async def test_a_lost_rotation_race_uses_the_winners_key(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_latest = FakeDataKeys.latest
    reads = 0

    async def racing_latest(self: FakeDataKeys, merchant_id: str) -> DataKey | None:
        """The first read sees no key; right after it another process creates version 1."""
        nonlocal reads
        reads += 1
        found = await real_latest(self, merchant_id)
        if reads == 1:
            ref = DataKeyRef("dek_winner", 1)
            wrapped = await h.kek.wrap(h.cipher.generate_key(), merchant_id=merchant_id, ref=ref)
            h.store.tables.data_keys[ref.key_id] = DataKey(
                ref.key_id, merchant_id, 1, wrapped, "kek-1", h.clock.now()
            )
        return found

    monkeypatch.setattr(FakeDataKeys, "latest", racing_latest)
    token = await h.vault.tokenize_card(MERCHANT, card())
    sealed = h.store.tables.tokens[token.id].encrypted_card
    assert sealed is not None and (sealed.key_id, sealed.key_version) == ("dek_winner", 1)
    assert list(h.store.tables.data_keys) == ["dek_winner"]
    assert (await pay(h, MERCHANT, token.id)).pan.reveal() == VISA


async def test_a_kek_outage_during_rotation_writes_no_key() -> None:
    h = make_vault()
    h.kek.down = True
    with pytest.raises(KeyUnavailable):
        await h.vault.tokenize_card(MERCHANT, card())
    assert not h.store.tables.data_keys and not h.store.tables.tokens
