"""What every log line goes through (core.shared.redaction.scrub): credentials of every
shape redacted, wherever they stand in the line, and ordinary text left alone."""

from __future__ import annotations

import logging

import pytest

from adapters.logging_filter import RedactingFormatter
from core.shared.redaction import scrub
from core.shared.text_rules import looks_like_pan, return_url_problem

KEY = "sk_test_ntw_aRKpSpWBbUBUfz_8bkVL0ExOrjRF"
JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c3JfMSJ9.FvsTNhSfZ9-J8aiFHL-sxAE7wzOWbEtV"


@pytest.mark.parametrize(
    "line",
    [
        f"Invalid encoding on b'Bearer {KEY}\\xa0'",  # grpcio's own ERROR line
        f'{{"authorization": "Bearer {JWT}"}}',
        f"authorization={KEY}",
        f"token {JWT} expired",
        "refresh_token: rt_Q2hlY2tpbmcgdGhlIHJlZnJlc2g",
        "GET /v1/invitations/invtok_c2VjcmV0LWludml0YXRpb24/accept",
        "client_secret=pi_01m94_secret_Zm9vYmFyYmF6cXV4",
        "password='correct horse battery staple'",
        "Authorization: Basic dXNlcjpwYXNzd29yZA==",
    ],
)
def test_credentials_are_redacted_wherever_they_stand(line: str) -> None:
    out = scrub(line)
    assert "[REDACTED]" in out
    for secret in (KEY[8:], JWT, "Q2hlY2", "c2VjcmV0", "Zm9vYmFy", "horse", "dXNlcjpw"):
        assert secret not in out


@pytest.mark.parametrize(
    "line", ["the bearer of bad news", "pi_01m94tfnb8e15bqgcrnaaz4x7d", "sk_test_", "tok_01abc"]
)
def test_ordinary_text_is_left_alone(line: str) -> None:
    assert scrub(line) == line


def test_a_library_logger_is_scrubbed_by_the_root_formatter() -> None:
    record = logging.LogRecord(
        "grpc._cython.cygrpc", logging.ERROR, __file__, 1, "Invalid encoding on %r", (KEY,), None
    )
    assert KEY not in RedactingFormatter(logging.Formatter()).format(record)


def test_text_rules() -> None:
    assert looks_like_pan("paid with 4242 4242 4242 4242") and not looks_like_pan("order 1234")
    assert return_url_problem("https://shop.example/done?x=1") is None
    for bad in ("javascript:alert(1)", "/relative", "https://", "https://a.example/" + "a" * 2000):
        assert return_url_problem(bad) is not None
