"""adapters/vault/profile_handoff.py: the profile the zone hands over at tokenization is
the one DescribeForPayment gives, and the API's side takes it only for a `tok_` of the
same merchant and mode."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.vault.profile_handoff import (
    HandedOff,
    MemoryProfileHandoff,
    ProfileHandingVault,
    handed_off_profile,
)
from adapters.vault.wire import card_profile
from core.access.model import Principal
from core.access.roles import Role
from core.payments.ports import CardProfile
from core.shared.secret import Secret
from core.vault.cards import CardInput
from tests.fakes import FixedClock, in_memory_vault

CALLER = Principal(merchant_id="acct_1", livemode=False, actor="key_1", role=Role.OWNER)
PROFILE = CardProfile("visa", "4242", "424242", "fp_1", "credit", "US", test_card=True)


@pytest.mark.parametrize(
    "number", ["4242 4242 4242 4242", "5555-5555-5555-4444", "4000000000000002"]
)
async def test_the_handed_off_profile_is_what_describe_for_payment_says(number: str) -> None:
    clock = FixedClock()
    vault = in_memory_vault(clock)
    handoff = MemoryProfileHandoff(clock)
    card = CardInput(number=Secret(number), exp_month=12, exp_year=2031, cvc=Secret("123"))
    token = await ProfileHandingVault(vault, handoff).tokenize_card(CALLER, card)
    described = card_profile(
        await vault.describe_for_payment(CALLER.merchant_id, token.id, livemode=False)
    )
    handed = await handoff.take(token.id)
    assert handed == HandedOff(CALLER.merchant_id, False, described)
    # Nothing in it but what the application zone may see.
    assert number.replace(" ", "").replace("-", "") not in repr(handed)


async def test_the_confirm_takes_a_tokens_profile_once() -> None:
    clock = FixedClock()
    handoff = MemoryProfileHandoff(clock)
    expires = clock.now() + timedelta(minutes=15)
    await handoff.put("tok_1", HandedOff("acct_1", False, PROFILE), expires_at=expires)
    assert await handed_off_profile(handoff, "acct_1", "tok_1", livemode=False) == PROFILE
    assert await handed_off_profile(handoff, "acct_1", "tok_1", livemode=False) is None


@pytest.mark.parametrize(
    ("merchant", "livemode"), [("acct_2", False), ("acct_1", True)], ids=["merchant", "mode"]
)
async def test_another_merchants_or_modes_profile_is_not_used(
    merchant: str, livemode: bool
) -> None:
    clock = FixedClock()
    handoff = MemoryProfileHandoff(clock)
    expires = clock.now() + timedelta(minutes=15)
    await handoff.put("tok_1", HandedOff("acct_1", False, PROFILE), expires_at=expires)
    assert await handed_off_profile(handoff, merchant, "tok_1", livemode=livemode) is None


async def test_a_saved_card_is_always_described_by_the_vault() -> None:
    clock = FixedClock()
    handoff = MemoryProfileHandoff(clock)
    expires = clock.now() + timedelta(minutes=15)
    await handoff.put("pm_1", HandedOff("acct_1", False, PROFILE), expires_at=expires)
    assert await handed_off_profile(handoff, "acct_1", "pm_1", livemode=False) is None
