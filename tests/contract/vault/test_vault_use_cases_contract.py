"""The Vault use-cases over each VaultUnitOfWork: memory (what core tests use) and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from core.shared.errors import NotFound
from core.shared.secret import Secret
from core.vault.errors import TokenAlreadyUsed, TokenExpired
from core.vault.model import DetokenizationOutcome, TokenStatus
from core.vault.rotation import KeyRotation
from tests.contract.vault.vault_helpers import MASTERCARD, VISA, VaultHarness, new_principal


async def test_a_token_pays_once(vault: VaultHarness) -> None:
    token = await vault.tokenize(cvc="321")
    card = await vault.pay(token.id)
    assert (card.pan.reveal(), card.cvc, card.name) == (VISA, Secret("321"), "Jenny Rosen")
    assert (card.exp_month, card.exp_year, card.card) == (12, 2030, token.card)
    with pytest.raises(TokenAlreadyUsed) as raised:
        await vault.pay(token.id)
    assert raised.value.reason == "TOKEN_ALREADY_USED"
    async with vault.uow() as uow:
        stored = await uow.tokens.get(vault.merchant.merchant_id, token.id)
        audit = await uow.detokenizations.for_payment_method(vault.merchant.merchant_id, token.id)
    assert stored is not None
    assert (stored.status, stored.encrypted_card) == (TokenStatus.USED, None)
    assert [(r.outcome, r.reason) for r in audit] == [
        (DetokenizationOutcome.GRANTED, ""),
        (DetokenizationOutcome.DENIED, "TOKEN_ALREADY_USED"),
    ]


async def test_a_payment_method_pays_twice_and_the_cvc_once(vault: VaultHarness) -> None:
    token = await vault.tokenize(MASTERCARD, cvc="555")
    pm = await vault.vault.create_payment_method_from_token(vault.merchant, token.id)
    first, second = await vault.pay(pm.id), await vault.pay(pm.id)
    assert first.pan.reveal() == second.pan.reveal() == MASTERCARD
    assert (first.cvc, second.cvc) == (Secret("555"), None)
    assert (await vault.vault.get_payment_method(vault.merchant, pm.id)).card == token.card
    listed = await vault.vault.list_payment_methods(vault.merchant)
    assert [m.id for m in listed.data] == [pm.id]


async def test_another_merchant_or_mode_gets_not_found(vault: VaultHarness) -> None:
    token = await vault.tokenize()
    for stranger in (vault.other, new_principal(livemode=True)):
        with pytest.raises(NotFound) as raised:
            await vault.pay(token.id, who=stranger)
        assert raised.value.metadata == {"param": "payment_method"}
    assert (await vault.pay(token.id)).pan.reveal() == VISA


async def test_an_expired_token_is_erased(vault: VaultHarness) -> None:
    token = await vault.tokenize()
    vault.clock.advance(minutes=15)
    with pytest.raises(TokenExpired):
        await vault.pay(token.id)
    async with vault.uow() as uow:
        stored = await uow.tokens.get(vault.merchant.merchant_id, token.id)
    assert stored is not None
    assert (stored.status, stored.encrypted_card) == (TokenStatus.EXPIRED, None)


async def test_the_same_card_has_one_fingerprint_per_merchant(vault: VaultHarness) -> None:
    one, two = await vault.tokenize(), await vault.tokenize(cvc="")
    elsewhere = await vault.tokenize(who=vault.other)
    assert one.card.fingerprint == two.card.fingerprint != elsewhere.card.fingerprint


async def test_rotating_one_merchant_keeps_everything_readable(vault: VaultHarness) -> None:
    tokens = [await vault.tokenize() for _ in range(3)]
    pm = await vault.vault.create_payment_method_from_token(vault.merchant, tokens[0].id)
    rotation = KeyRotation(vault.uow, vault.vault.keyring, batch_size=1)
    report = await rotation.rotate_merchant(vault.merchant.merchant_id, retire=True)
    assert (report.keys_retired, report.tokens_reencrypted, report.remaining) == (1, 2, 0)
    assert report.payment_methods_reencrypted == 1
    async with vault.uow() as uow:
        for token in tokens[1:]:
            stored = await uow.tokens.get(vault.merchant.merchant_id, token.id)
            assert stored is not None and stored.encrypted_card is not None
            assert stored.encrypted_card.key_version == 2
    for token in tokens[1:]:
        assert (await vault.pay(token.id)).cvc == Secret("737")  # CVCs stay under v1
    assert (await vault.pay(pm.id)).pan.reveal() == VISA
    new = await vault.tokenize()
    async with vault.uow() as uow:
        stored = await uow.tokens.get(vault.merchant.merchant_id, new.id)
    assert stored is not None and stored.encrypted_card is not None
    assert stored.encrypted_card.key_version == 2


async def test_concurrent_uses_of_one_token_give_the_card_once(vault: VaultHarness) -> None:
    """The token is read without a lock: of two confirmations racing for it, exactly one
    gets the card and the other TOKEN_ALREADY_USED, whichever way they interleave."""
    for _ in range(5):
        token = await vault.tokenize(cvc="246")
        results = await asyncio.gather(
            vault.pay(token.id), vault.pay(token.id), return_exceptions=True
        )
        granted = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(granted) == 1 and granted[0].cvc == Secret("246"), results
        assert len(refused) == 1 and isinstance(refused[0], TokenAlreadyUsed), results
        async with vault.uow() as uow:
            audit = await uow.detokenizations.for_payment_method(
                vault.merchant.merchant_id, token.id
            )
        assert sorted((r.outcome, r.reason) for r in audit) == [
            (DetokenizationOutcome.DENIED, "TOKEN_ALREADY_USED"),
            (DetokenizationOutcome.GRANTED, ""),
        ]
