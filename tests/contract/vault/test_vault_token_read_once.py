"""A confirm's vault part reads the token once: the row the card's description read is the
use's read (core.vault.read_tokens.ReadTokens), against memory and PostgreSQL. A kept
row that moved meanwhile never lets a token be used twice or after its expiry: the
versioned write decides and the row is read again. docs/vault.md, "The token read once".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from adapters.sql.vault.repositories import SqlTokens
from core.shared.errors import FailedPrecondition, NotFound
from core.vault.model import DetokenizationOutcome, TokenStatus
from core.vault.read_tokens import HOLD
from tests.contract.vault.vault_helpers import VISA, VaultHarness, make_harness
from tests.fakes.vault import MemoryTokens


class Calls:
    """The token repository's reads and uses, whichever adapter serves them."""

    def __init__(self) -> None:
        self.gets = 0
        self.uses = 0

    def reset(self) -> None:
        self.gets = self.uses = 0


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    counted = Calls()

    def wrap(method: Callable[..., Any], field: str) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            setattr(counted, field, getattr(counted, field) + 1)
            return await method(*args, **kwargs)

        return call

    for repository in (SqlTokens, MemoryTokens):
        monkeypatch.setattr(repository, "get", wrap(repository.get, "gets"))
        monkeypatch.setattr(repository, "use", wrap(repository.use, "uses"))
    return counted


async def _token_row(vault: VaultHarness, token_id: str) -> Any:
    async with vault.uow() as uow:
        return await uow.tokens.get(vault.merchant.merchant_id, token_id)


async def _grants(vault: VaultHarness, token_id: str) -> list[DetokenizationOutcome]:
    async with vault.uow() as uow:
        records = await uow.detokenizations.for_payment_method(vault.merchant.merchant_id, token_id)
    return [r.outcome for r in records if r.outcome is DetokenizationOutcome.GRANTED]


async def test_a_confirms_vault_part_reads_the_token_once(
    vault: VaultHarness, calls: Calls
) -> None:
    token = await vault.tokenize()
    calls.reset()
    await vault.describe(token.id)
    got = await vault.pay(token.id)
    assert got.pan.reveal() == VISA and got.cvc is not None
    # The description's read, then the use alone: no second read.
    assert (calls.gets, calls.uses) == (1, 1)
    assert len(vault.read) == 0  # nothing kept once used
    assert (await _token_row(vault, token.id)).status is TokenStatus.USED
    assert await _grants(vault, token.id) == [DetokenizationOutcome.GRANTED]


async def test_a_use_without_a_description_reads_as_before(
    vault: VaultHarness, calls: Calls
) -> None:
    token = await vault.tokenize()
    calls.reset()
    await vault.pay(token.id)
    assert (calls.gets, calls.uses) == (1, 1)


async def test_a_kept_row_used_meanwhile_gives_token_already_used_and_writes_once(
    vault: VaultHarness, calls: Calls
) -> None:
    # Two vault processes over one database: this one described the card, the other one
    # used the token meanwhile (its own read; it kept nothing).
    other = make_harness(vault.uow, clock=vault.clock)
    token = await vault.tokenize()
    await vault.describe(token.id)
    assert len(vault.read) == 1
    await other.pay(token.id, who=vault.merchant)
    calls.reset()
    with pytest.raises(FailedPrecondition) as raised:
        await vault.pay(token.id)
    assert raised.value.reason == "TOKEN_ALREADY_USED"
    # The kept row's versioned use matched nothing; the row read again said why.
    assert (calls.gets, calls.uses) == (1, 1)
    assert len(vault.read) == 0
    assert await _grants(vault, token.id) == [DetokenizationOutcome.GRANTED]  # one, not two
    row = await _token_row(vault, token.id)
    assert row.status is TokenStatus.USED and row.version == 2


async def test_a_kept_row_moved_by_a_rewrite_is_read_again_and_used(
    vault: VaultHarness, calls: Calls
) -> None:
    token = await vault.tokenize()
    await vault.describe(token.id)
    async with vault.uow() as uow:  # what a key rotation's re-encryption does to a row
        stored = await uow.tokens.get(vault.merchant.merchant_id, token.id, for_update=True)
        assert stored is not None
        await uow.tokens.update(stored)
        await uow.commit()
    calls.reset()
    got = await vault.pay(token.id)
    assert got.pan.reveal() == VISA
    assert (calls.gets, calls.uses) == (1, 2)
    assert await _grants(vault, token.id) == [DetokenizationOutcome.GRANTED]
    assert (await _token_row(vault, token.id)).version == 3


async def test_an_entry_kept_too_long_is_not_used(vault: VaultHarness, calls: Calls) -> None:
    token = await vault.tokenize()
    await vault.describe(token.id)
    vault.clock.advance(seconds=HOLD.total_seconds())
    calls.reset()
    await vault.pay(token.id)
    assert (calls.gets, calls.uses) == (1, 1)  # read again


async def test_a_token_expiring_while_kept_is_refused_and_recorded_expired(
    vault: VaultHarness, calls: Calls
) -> None:
    token = await vault.tokenize()
    vault.clock.advance(minutes=14, seconds=50)
    await vault.describe(token.id)  # kept until the token's own expiry, 10 s on
    vault.clock.advance(seconds=10)
    with pytest.raises(FailedPrecondition) as raised:
        await vault.pay(token.id)
    assert raised.value.reason == "TOKEN_EXPIRED"
    row = await _token_row(vault, token.id)
    assert row.status is TokenStatus.EXPIRED and row.encrypted_card is None
    assert await _grants(vault, token.id) == []


async def test_the_expiry_sweep_forgets_what_it_erased(vault: VaultHarness) -> None:
    token = await vault.tokenize()
    vault.clock.advance(minutes=14, seconds=50)
    await vault.describe(token.id)
    vault.clock.advance(seconds=10)
    await vault.vault.expire_tokens()
    assert len(vault.read) == 0


async def test_a_payment_method_made_from_a_kept_token_leaves_nothing_kept(
    vault: VaultHarness,
) -> None:
    token = await vault.tokenize()
    await vault.describe(token.id)
    await vault.vault.create_payment_method_from_token(vault.merchant, token.id)
    assert len(vault.read) == 0
    with pytest.raises(FailedPrecondition) as raised:
        await vault.pay(token.id)
    assert raised.value.reason == "TOKEN_ALREADY_USED"


async def test_another_merchants_or_modes_use_takes_nothing(vault: VaultHarness) -> None:
    token = await vault.tokenize()
    await vault.describe(token.id)
    with pytest.raises(NotFound):
        await vault.pay(token.id, who=vault.other)
    assert len(vault.read) == 1  # kept for its own merchant only
    got = await vault.pay(token.id)
    assert got.pan.reveal() == VISA


async def test_a_payment_method_is_never_kept(vault: VaultHarness) -> None:
    token = await vault.tokenize()
    method = await vault.vault.create_payment_method_from_token(vault.merchant, token.id)
    await vault.describe(method.id)
    assert len(vault.read) == 0
