"""core.vault.read_tokens.ReadTokens: the token rows kept between a card's description and
its use, bounded in time and number, taken once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from core.vault.model import (
    Brand,
    CardSummary,
    EncryptedCard,
    Funding,
    Token,
    TokenStatus,
)
from core.vault.read_tokens import HOLD, ReadTokens
from tests.unit.vault.fakes import FakeClock

SUMMARY = CardSummary(Brand.VISA, "4242", 12, 2030, "f" * 32, Funding.CREDIT, "US")


def token(
    clock: FakeClock, token_id: str = "tok_1", merchant: str = "acct_a", **kw: object
) -> Token:
    made = Token.create(
        id=token_id,
        merchant_id=merchant,
        livemode=False,
        card=SUMMARY,
        encrypted_card=EncryptedCard(b"\x01sealed", "dek_1", 1),
        created=clock.now(),
    )
    for name, value in kw.items():
        setattr(made, name, value)
    return made


def test_a_kept_row_is_taken_once_and_is_a_copy() -> None:
    clock = FakeClock()
    kept = ReadTokens(clock)
    read = token(clock)
    kept.keep(read)
    read.status = TokenStatus.USED  # the reader's object changing later changes nothing
    taken = kept.take("acct_a", "tok_1")
    assert taken is not None and taken is not read
    assert taken.status is TokenStatus.ACTIVE and taken.version == 1
    assert kept.take("acct_a", "tok_1") is None
    assert len(kept) == 0


def test_only_the_same_merchants_row_is_taken() -> None:
    clock = FakeClock()
    kept = ReadTokens(clock)
    kept.keep(token(clock))
    assert kept.take("acct_b", "tok_1") is None
    assert kept.take("acct_a", "tok_1") is not None


def test_an_entry_is_kept_for_hold_at_most() -> None:
    clock = FakeClock()
    kept = ReadTokens(clock)
    kept.keep(token(clock))
    clock.advance(seconds=HOLD.total_seconds())
    assert kept.take("acct_a", "tok_1") is None
    assert len(kept) == 0


def test_an_entry_is_never_kept_past_its_tokens_expiry() -> None:
    clock = FakeClock()
    kept = ReadTokens(clock)
    kept.keep(token(clock, expires_at=clock.now() + timedelta(seconds=5)))
    clock.advance(seconds=5)
    assert kept.take("acct_a", "tok_1") is None
    # A row already past its expiry is not kept at all.
    kept.keep(token(clock, "tok_2", expires_at=clock.now()))
    assert len(kept) == 0


def test_only_active_rows_are_kept() -> None:
    clock = FakeClock()
    kept = ReadTokens(clock)
    for status in (TokenStatus.USED, TokenStatus.EXPIRED, TokenStatus.REVOKED):
        kept.keep(token(clock, f"tok_{status.value}", status=status, encrypted_card=None))
    assert len(kept) == 0


def test_entries_are_bounded_in_number_oldest_read_first() -> None:
    clock = FakeClock()
    kept = ReadTokens(clock, max_entries=2)
    for n in range(3):
        kept.keep(token(clock, f"tok_{n}"))
    assert len(kept) == 2
    assert kept.take("acct_a", "tok_0") is None
    assert kept.take("acct_a", "tok_2") is not None


def test_pruning_drops_what_was_kept_too_long() -> None:
    clock = FakeClock()
    kept = ReadTokens(clock)
    kept.keep(token(clock, "tok_old"))
    clock.advance(seconds=20)
    kept.keep(token(clock, "tok_new"))
    clock.advance(seconds=15)
    kept.prune()
    assert len(kept) == 1
    kept.forget("acct_a", "tok_new")
    assert len(kept) == 0


def test_no_entries_when_disabled() -> None:
    clock = FakeClock()
    kept = ReadTokens(clock, max_entries=0)
    kept.keep(token(clock))
    assert len(kept) == 0


async def test_entries_kept_too_long_are_dropped_by_a_timer_in_an_idle_process() -> None:
    clock = FakeClock()
    kept = ReadTokens(clock, hold=timedelta(milliseconds=20))
    kept.keep(token(clock))
    clock.advance(seconds=1)  # no keep, no take after this: only the timer prunes
    await asyncio.sleep(0.05)
    assert len(kept) == 0
