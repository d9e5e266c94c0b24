"""Detokenization audit, sealed CVCs, payment method listing, expiry sweep, key rotation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from adapters.crypto.kek import AesGcmKeyWrapper
from core.shared.errors import InvalidArgument, NotFound
from core.shared.secret import Secret
from core.vault.cards import CardInput
from core.vault.errors import CiphertextRejected, TokenAlreadyUsed
from core.vault.model import (
    DetokenizationOutcome,
    KeyMaterial,
    PaymentMethodStatus,
    Token,
    TokenStatus,
)
from core.vault.rotation import KeyRotation
from tests.fakes.vault import MemoryTokens
from tests.unit.vault.fakes import KEK, Harness, make_vault, principal

MERCHANT = principal("acct_a")
OTHER = principal("acct_b")
VISA = "4242424242424242"
ACTOR = "in-process:payments"


def card(number: str = VISA, cvc: str = "737") -> CardInput:
    return CardInput(Secret(number), exp_month=12, exp_year=2030, cvc=Secret(cvc), name="J R")


@pytest.fixture
def h() -> Harness:
    return make_vault()


async def detokenize(h: Harness, payment_method: str, merchant_id: str = "acct_a") -> Secret:
    got = await h.vault.detokenize_for_payment(
        merchant_id, payment_method, purpose="authorize pa_1", actor=ACTOR
    )
    return got.pan


# ------------------------------------------------------------------ audit


async def test_every_detokenization_is_audited_granted_or_denied(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card())
    await detokenize(h, token.id)
    with pytest.raises(TokenAlreadyUsed):
        await detokenize(h, token.id)
    with pytest.raises(NotFound):
        await detokenize(h, token.id, merchant_id="acct_b")

    mine = h.store.tables.detokenizations
    assert [(r.merchant_id, r.outcome, r.reason) for r in mine] == [
        ("acct_a", DetokenizationOutcome.GRANTED, ""),
        ("acct_a", DetokenizationOutcome.DENIED, "TOKEN_ALREADY_USED"),
        ("acct_b", DetokenizationOutcome.DENIED, "RESOURCE_MISSING"),
    ]
    assert all(r.payment_method == token.id and r.actor == ACTOR for r in mine)
    assert all(r.purpose == "authorize pa_1" and r.occurred_at == h.clock.now() for r in mine)


async def test_a_rejected_ciphertext_is_audited_and_changes_nothing(h: Harness) -> None:
    victim = await h.vault.tokenize_card(MERCHANT, card())
    other = await h.vault.tokenize_card(MERCHANT, card("5555555555554444"))
    tables = h.store.tables
    tables.tokens[other.id].encrypted_card = tables.tokens[victim.id].encrypted_card
    with pytest.raises(CiphertextRejected):
        await detokenize(h, other.id)
    assert h.store.tables.tokens[other.id].status is TokenStatus.ACTIVE
    [record] = h.store.tables.detokenizations
    assert (record.outcome, record.reason) == (DetokenizationOutcome.DENIED, "CIPHERTEXT_REJECTED")


async def test_the_audit_never_holds_a_card_number(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card())
    await h.vault.detokenize_for_payment("acct_a", token.id, purpose=f"for {VISA}", actor=ACTOR)
    with pytest.raises(NotFound):
        await h.vault.detokenize_for_payment("acct_a", f"x{VISA}", purpose=VISA, actor=ACTOR)
    records = h.store.tables.detokenizations
    assert [r.purpose for r in records] == ["for ************4242", "************4242"]
    assert records[1].payment_method == "x************4242"


@pytest.mark.parametrize("purpose", ["", "x" * 201, "tab\there", "naïve"])
async def test_the_purpose_is_required_and_plain(h: Harness, purpose: str) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card())
    with pytest.raises(InvalidArgument) as exc:
        await h.vault.detokenize_for_payment("acct_a", token.id, purpose=purpose, actor=ACTOR)
    assert exc.value.metadata["param"] == "purpose"
    assert h.store.tables.tokens[token.id].status is TokenStatus.ACTIVE
    assert [r.reason for r in h.store.tables.detokenizations] == ["PARAMETER_INVALID"]


@pytest.mark.parametrize("asked", ["card_123", "pi_01jd0000000000000000000000", "4242424242424242"])
async def test_anything_but_a_tok_or_pm_is_not_found(h: Harness, asked: str) -> None:
    with pytest.raises(NotFound) as exc:
        await detokenize(h, asked)
    assert exc.value.metadata == {"param": "payment_method"}
    assert VISA not in exc.value.message


async def test_a_pm_works_twice_and_the_livemode_is_checked_when_given(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card())
    pm = await h.vault.create_payment_method_from_token(MERCHANT, token.id)
    assert (await detokenize(h, pm.id)).reveal() == VISA
    assert (await detokenize(h, pm.id)).reveal() == VISA
    with pytest.raises(NotFound):
        await h.vault.detokenize_for_payment(
            "acct_a", pm.id, purpose="p", actor=ACTOR, livemode=True
        )


# ------------------------------------------------------------- sealed CVCs


async def test_the_cvc_store_only_ever_holds_sealed_bytes(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card(cvc="731"))
    sealed = await h.cvcs.pop(token.id)
    assert sealed is not None and b"731" not in sealed
    assert h.cipher.key_ref(sealed).version == 1  # under the merchant's data key
    await h.cvcs.put(token.id, sealed, expires_at=h.clock.now().replace(year=2027))
    got = await h.vault.detokenize_for_payment("acct_a", token.id, purpose="p", actor=ACTOR)
    assert got.cvc == Secret("731")


async def test_a_cvc_moved_to_another_record_does_not_open(h: Harness) -> None:
    one = await h.vault.tokenize_card(MERCHANT, card(cvc="111"))
    two = await h.vault.tokenize_card(MERCHANT, card(cvc="222"))
    sealed = await h.cvcs.pop(one.id)
    assert sealed is not None
    await h.cvcs.put(two.id, sealed, expires_at=two.expires_at)
    with pytest.raises(CiphertextRejected):
        await detokenize(h, two.id)
    # The CVC is taken only after the token's use (docs/vault.md, "A token's single use"):
    # a CVC store that hands back another record's CVC leaves the token used, its card
    # never handed out, and the refusal in the audit after the grant.
    assert h.store.tables.tokens[two.id].status is TokenStatus.USED
    assert [r.outcome.value for r in h.store.tables.detokenizations][-2:] == [
        "GRANTED",
        "DENIED",
    ]
    assert h.store.tables.detokenizations[-1].reason == "CIPHERTEXT_REJECTED"
    with pytest.raises(TokenAlreadyUsed):
        await detokenize(h, two.id)


# ------------------------------------------------------ listing and expiry


async def test_payment_methods_list_newest_first_per_customer(h: Harness) -> None:
    methods = []
    for customer in ("cus_1", "cus_2", "cus_1"):
        token = await h.vault.tokenize_card(MERCHANT, card())
        methods.append(
            await h.vault.create_payment_method_from_token(MERCHANT, token.id, customer_id=customer)
        )
    other_token = await h.vault.tokenize_card(OTHER, card())
    await h.vault.create_payment_method_from_token(OTHER, other_token.id)

    page = await h.vault.list_payment_methods(MERCHANT, limit=2)
    assert [m.id for m in page.data] == [methods[2].id, methods[1].id] and page.has_more
    rest = await h.vault.list_payment_methods(MERCHANT, starting_after=methods[1].id)
    assert [m.id for m in rest.data] == [methods[0].id] and not rest.has_more
    theirs = await h.vault.list_payment_methods(MERCHANT, customer_id="cus_1")
    assert [m.id for m in theirs.data] == [methods[2].id, methods[0].id]
    assert (await h.vault.get_payment_method(MERCHANT, methods[0].id)).customer_id == "cus_1"
    with pytest.raises(NotFound) as exc:
        await h.vault.get_payment_method(OTHER, methods[0].id)
    assert exc.value.metadata["param"] == "id"
    with pytest.raises(InvalidArgument):
        await h.vault.list_payment_methods(MERCHANT, limit=101)


async def test_listing_pages_within_one_mode(h: Harness) -> None:
    live = principal("acct_a", livemode=True)
    made = {}
    for who in (MERCHANT, live, live, MERCHANT):
        token = await h.vault.tokenize_card(who, card())
        made.setdefault(who.livemode, []).append(
            (await h.vault.create_payment_method_from_token(who, token.id)).id
        )
    page = await h.vault.list_payment_methods(MERCHANT, limit=1)
    assert [m.id for m in page.data] == [made[False][1]] and page.has_more
    rest = await h.vault.list_payment_methods(MERCHANT, limit=1, starting_after=made[False][1])
    assert [m.id for m in rest.data] == [made[False][0]] and not rest.has_more
    live_page = await h.vault.list_payment_methods(live)
    assert [m.id for m in live_page.data] == made[True][::-1]


async def test_the_expiry_sweep_erases_expired_tokens_and_their_cvcs(h: Harness) -> None:
    old = await h.vault.tokenize_card(MERCHANT, card())
    h.clock.advance(minutes=10)
    fresh = await h.vault.tokenize_card(MERCHANT, card())
    h.clock.advance(minutes=5)
    assert await h.vault.expire_tokens() == 1
    tables = h.store.tables
    assert tables.tokens[old.id].status is TokenStatus.EXPIRED
    assert tables.tokens[old.id].encrypted_card is None
    assert tables.tokens[fresh.id].status is TokenStatus.ACTIVE
    assert len(h.cvcs) == 1
    assert await h.vault.expire_tokens() == 0


# ---------------------------------------------------------------- rotation


async def test_rotation_reencrypts_everything_and_old_tokens_keep_working(h: Harness) -> None:
    tokens = [await h.vault.tokenize_card(MERCHANT, card()) for _ in range(3)]
    pm = await h.vault.create_payment_method_from_token(MERCHANT, tokens[0].id)
    theirs = await h.vault.tokenize_card(OTHER, card())
    revoked = await h.vault.create_payment_method_from_token(
        OTHER, (await h.vault.tokenize_card(OTHER, card())).id
    )
    await h.vault.revoke_payment_method(OTHER, revoked.id)

    report = await KeyRotation(h.store_uow(), h.vault.keyring, batch_size=1).run(
        retire_active_keys=True
    )
    assert (report.merchants, report.keys_retired, report.remaining) == (2, 2, 0)
    assert (report.tokens_reencrypted, report.payment_methods_reencrypted) == (3, 1)

    tables = h.store.tables
    for record in [*tables.tokens.values(), *tables.payment_methods.values()]:
        if record.encrypted_card is not None:
            assert record.encrypted_card.key_version == 2
            assert h.cipher.key_ref(record.encrypted_card.ciphertext).version == 2
    assert {(k.merchant_id, k.version, k.active) for k in tables.data_keys.values()} == {
        ("acct_a", 1, False),
        ("acct_a", 2, True),
        ("acct_b", 1, False),
        ("acct_b", 2, True),
    }
    for token in tokens[1:]:
        got = await h.vault.detokenize_for_payment("acct_a", token.id, purpose="p", actor=ACTOR)
        assert got.pan.reveal() == VISA and got.cvc == Secret("737")  # CVC under version 1
    assert (await detokenize(h, pm.id)).reveal() == VISA
    assert (await detokenize(h, theirs.id, "acct_b")).reveal() == VISA
    new = await h.vault.tokenize_card(MERCHANT, card())
    sealed = h.store.tables.tokens[new.id].encrypted_card
    assert sealed is not None and sealed.key_version == 2

    again = await KeyRotation(h.store_uow(), h.vault.keyring).run(retire_active_keys=False)
    assert (again.keys_retired, again.tokens_reencrypted, again.remaining) == (0, 0, 0)


async def test_a_kek_rotation_rewraps_every_data_key(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card())
    await h.vault.tokenize_card(OTHER, card())
    new_kek = KeyMaterial(bytes(range(50, 82)))
    both = AesGcmKeyWrapper({"kek-1": KEK, "kek-2": new_kek}, current="kek-2")
    rotated = make_vault(store=h.store, clock=h.clock, kek_wrapper=both)
    rotated.cvcs = h.cvcs

    report = await KeyRotation(rotated.store_uow(), rotated.vault.keyring).run(
        retire_active_keys=False
    )
    assert report.keys_rewrapped == 2
    assert {k.kek_id for k in h.store.tables.data_keys.values()} == {"kek-2"}

    only_new = make_vault(
        store=h.store,
        clock=h.clock,
        kek_wrapper=AesGcmKeyWrapper({"kek-2": new_kek}, current="kek-2"),
    )
    got = await only_new.vault.detokenize_for_payment("acct_a", token.id, purpose="p", actor=ACTOR)
    assert got.pan.reveal() == VISA


async def test_revoked_payment_methods_are_not_touched_by_rotation(h: Harness) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card())
    pm = await h.vault.create_payment_method_from_token(MERCHANT, token.id)
    await h.vault.revoke_payment_method(MERCHANT, pm.id)
    report = await KeyRotation(h.store_uow(), h.vault.keyring).run(retire_active_keys=True)
    assert report.payment_methods_reencrypted == 0
    stored = h.store.tables.payment_methods[pm.id]
    assert stored.status is PaymentMethodStatus.REVOKED and stored.encrypted_card is None


# ------------------------------------------------- a token's use after an unlocked read


def _moved_once_after_read(
    h: Harness, monkeypatch: pytest.MonkeyPatch, change: Callable[[Token], None]
) -> None:
    """Another transaction commits `change` to the token right after the vault's first
    unlocked read of it (before its use): the race the versioned use settles."""
    read = MemoryTokens.get
    calls = 0

    async def get(self: MemoryTokens, merchant_id: str, token_id: str, **kw: bool) -> Any:
        nonlocal calls
        token = await read(self, merchant_id, token_id, **kw)
        calls += 1
        if calls == 1:
            # Committed by someone else: in the store, and in this unit of work's view.
            for tables in (h.store.tables, self._t):
                change(tables.tokens[token_id])
                tables.tokens[token_id].version += 1
        return token

    monkeypatch.setattr(MemoryTokens, "get", get)


async def test_a_token_used_between_the_read_and_the_use_is_already_used(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card(cvc="111"))
    _moved_once_after_read(h, monkeypatch, lambda t: t.use(h.clock.now()))
    with pytest.raises(TokenAlreadyUsed):
        await detokenize(h, token.id)
    # The loser wrote no grant, and left the CVC (the winner's to take).
    assert [r.reason for r in h.store.tables.detokenizations] == ["TOKEN_ALREADY_USED"]
    assert await h.cvcs.pop(token.id) is not None


async def test_a_token_whose_version_moved_otherwise_is_read_again_and_used(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await h.vault.tokenize_card(MERCHANT, card(cvc="111"))
    _moved_once_after_read(h, monkeypatch, lambda t: None)  # a re-encryption, say
    assert await detokenize(h, token.id) == Secret(VISA)
    assert h.store.tables.tokens[token.id].status is TokenStatus.USED
    assert [r.outcome.value for r in h.store.tables.detokenizations] == ["GRANTED"]
