from __future__ import annotations

import logging
import re
import sys
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.logging_filter import RedactingFilter, RedactingFormatter
from adapters.memory.cvc_store import MemoryCvcStore
from core.shared.redaction import luhn_valid, mask_pans
from core.shared.secret import Secret
from tests.unit.vault.fakes import FakeClock


def complete(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def spoil(number: str) -> str:
    """The same number with a wrong check digit."""
    return number[:-1] + str((int(number[-1]) + 1) % 10)


# ------------------------------------------------------------------ mask_pans


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("card 4242424242424242 ok", "card ************4242 ok"),
        ("4242 4242 4242 4242", "**** **** **** 4242"),
        ("4242-4242-4242-4242", "****-****-****-4242"),
        ("amex 378282246310005.", "amex ***********0005."),
        ('{"number": "5555555555554444"}', '{"number": "************4444"}'),
        ("pan=4000002760003184&x", "pan=************3184&x"),
        ("card4242424242424242x", "card************4242x"),
        ("qty 2 4242 4242 4242 4242", "qty 2 **** **** **** 4242"),
        ("4242424242424242,5555555555554444", "************4242,************4444"),
        # Not card numbers: left alone.
        ("order 4242424242424241", "order 4242424242424241"),  # fails Luhn
        ("id 424242424242", "id 424242424242"),  # 12 digits
        ("big 42424242424242424242", "big 42424242424242424242"),  # 20 digits
        ("at 2026-03-14 09:26:53", "at 2026-03-14 09:26:53"),
        ("no digits here", "no digits here"),
        ("", ""),
    ],
)
def test_mask_pans(text: str, masked: str) -> None:
    assert mask_pans(text) == masked


luhn_numbers = st.text(alphabet="0123456789", min_size=12, max_size=18).map(complete)
filler = st.text(alphabet=st.characters(exclude_categories=("Nd",)), max_size=20)


@given(before=filler, number=luhn_numbers, after=filler)
def test_a_luhn_valid_run_never_survives(before: str, number: str, after: str) -> None:
    out = mask_pans(before + number + after)
    assert number not in out
    assert out == before + "*" * (len(number) - 4) + number[-4:] + after


@given(number=luhn_numbers, sep=st.sampled_from([" ", "-"]), size=st.integers(3, 6))
def test_grouped_numbers_are_masked_too(number: str, sep: str, size: int) -> None:
    grouped = sep.join(number[i : i + size] for i in range(0, len(number), size))
    out = mask_pans(f"card: {grouped}!")
    # At most the last four digits survive (a Luhn-valid stretch of fewer groups inside
    # the number may hide some of those four as well: masking errs on the safe side).
    assert sum(c.isdigit() for c in out) <= 4
    assert out.startswith("card: ") and out.endswith("!")


@given(number=luhn_numbers, before=filler, after=filler)
def test_non_luhn_runs_stay(number: str, before: str, after: str) -> None:
    text = before + spoil(number) + after
    assert mask_pans(text) == text


def naive_mask(text: str) -> str:
    """Reference: try every window of whole groups of every run, one Luhn check each."""
    out = list(text)
    for run in re.finditer(r"(?<![0-9])[0-9]+(?:[ -][0-9]+)*(?![0-9])", text):
        spans = [m.span() for m in re.finditer("[0-9]+", run.group(0))]
        for first in range(len(spans)):
            for last in range(first, len(spans)):
                positions = [
                    run.start() + i for a, b in spans[first : last + 1] for i in range(a, b)
                ]
                window = "".join(text[i] for i in positions)
                if 13 <= len(window) <= 19 and luhn_valid(window):
                    for i in positions[:-4]:
                        out[i] = "*"
    return "".join(out)


@st.composite
def digit_groups(draw: st.DrawFn) -> str:
    groups = draw(st.lists(st.text("0123456789", min_size=1, max_size=8), max_size=10))
    text = ""
    for group in groups:
        text += group + draw(st.sampled_from([" ", "-", " ", "-", "x", "  ", "--"]))
    return text


@settings(max_examples=200)
@given(digit_groups())
def test_mask_pans_agrees_with_the_naive_reference(text: str) -> None:
    assert mask_pans(text) == naive_mask(text)


# ------------------------------------------------------------------ logging


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("paygate", logging.INFO, __file__, 1, msg, args or None, None)
    rec.__dict__.update(extra)
    return rec


def test_filter_masks_message_arguments_and_fields() -> None:
    rec = record(
        "charging %s for %d",
        "4242 4242 4242 4242",
        1000,
        fields={"pan": "5555555555554444", "order": 4242424242424241, "n": 4242424242424242},
    )
    assert RedactingFilter().filter(rec) is True
    assert rec.getMessage() == "charging **** **** **** 4242 for 1000"
    assert rec.fields == {
        "pan": "************4444",
        "order": 4242424242424241,
        "n": "************4242",
    }


def test_filter_masks_tracebacks() -> None:
    try:
        int("4242 4242 4242 4242x")
    except ValueError:
        rec = logging.LogRecord(
            "paygate", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    RedactingFilter().filter(rec)
    text = logging.Formatter().format(rec)
    assert "4242 4242 4242 4242x" not in text
    assert "**** **** **** 4242x" in text
    assert "ValueError" in text


def test_formatter_wrapper_masks_the_finished_line() -> None:
    formatter = RedactingFormatter(logging.Formatter("%(message)s %(card)s"))
    assert formatter.format(record("x", card="4242424242424242")) == "x ************4242"


def test_secrets_never_show_in_a_log_line() -> None:
    line = logging.Formatter().format(record("got %r", Secret("4242424242424242")))
    assert "4242" not in line


# ---------------------------------------------------------------- CVC store


async def test_cvc_store_pops_once_and_expires() -> None:
    clock = FakeClock()
    store = MemoryCvcStore(clock)
    await store.put("tok_1", b"sealed-1", expires_at=clock.now() + timedelta(minutes=15))
    await store.put("tok_2", b"sealed-2", expires_at=clock.now() + timedelta(minutes=5))
    assert await store.pop("tok_1") == b"sealed-1"
    assert await store.pop("tok_1") is None
    clock.advance(minutes=5)
    assert await store.pop("tok_2") is None
    assert len(store) == 0


async def test_cvc_store_is_bounded_and_ignores_stale_entries() -> None:
    clock = FakeClock()
    store = MemoryCvcStore(clock, max_entries=2)
    for i in range(3):
        await store.put(f"tok_{i}", b"sealed", expires_at=clock.now() + timedelta(minutes=i + 1))
    assert len(store) == 2
    assert await store.pop("tok_0") is None  # the soonest to expire went first
    # Put again with a later expiry: the old heap line must not evict the new entry.
    await store.put("tok_1", b"again", expires_at=clock.now() + timedelta(minutes=30))
    clock.advance(minutes=10)
    assert await store.pop("tok_1") == b"again"
    await store.put("tok_x", b"late", expires_at=clock.now())  # already expired
    await store.discard("tok_2")
    assert len(store) == 0
