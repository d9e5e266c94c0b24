"""The scrub's shortcuts (a text with nothing to mask or redact is returned as it is)
never change what the full patterns would make of a text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.shared import redaction

PIECES = st.sampled_from(
    [
        "4242", "4242424242424242", "4000 0566 5566 5556", "-", " ", "  ", "0", "12",
        "sk_test_", "SK_LIVE_", "pk_test_", "rt_", "invtok_", "pi_1_secret_", "eyJ", ".",
        "Bearer ", "basic ", "Authorization: ", "password=", "\"", "'", "x", "\u00e9", "\u0663",
        "\u017f", "\u212a", "\u0131", "ba\u017fic ", "\u212a_test_", "pas\u017fword=",
        "ba\u017f\u0131c ", "refresh_token", "api_key", "abcdefghijklmnop", ",", "}", "\n",
    ]
)  # fmt: skip


@given(st.lists(PIECES, max_size=40).map("".join))
@settings(max_examples=3000)
def test_the_shortcuts_change_nothing(text: str) -> None:
    assert redaction.mask_pans(text) == redaction._RUN.sub(redaction._mask_run, text)
    assert redaction.redact_credentials(text) == redaction._CREDENTIALS.sub(redaction._redact, text)


def test_a_line_with_nothing_to_hide_is_returned_unchanged_and_one_with_something_is_not() -> None:
    plain = '{"ts": "2026-12-06T20:01:55.729Z", "status": 200, "upstream": "127.0.0.1:41235"}'
    assert redaction.scrub(plain) == plain
    assert redaction.scrub("card 4242-4242-4242-4242 key sk_test_abcdefghijkl") == (
        "card ****-****-****-4242 key sk_test_[REDACTED]"
    )
