"""Card numbers out of text: the Luhn check and `mask_pans`, for logs, errors and traces.

Masking style: every digit of a card number except the last four becomes `*`; the length
and the separators stay, so `4242 4242 4242 4242` reads `**** **** **** 4242` and
`4242424242424242` reads `************4242`. The BIN is hidden too (PCI DSS would allow
first six + last four on screen, but nobody debugging from a log needs the BIN, and a
BIN plus last four narrows a card down a lot); the length and the last four are enough to
say which card a line was about.

What counts as a card number: a run of 13 to 19 digits that passes the Luhn check. Digits
may be grouped by single spaces or dashes (`4242-4242-4242-4242`); within such a grouped
run every stretch of whole groups holding 13-19 digits is checked on its own, so a PAN
after an unrelated number (`qty 2 4242 4242 4242 4242`) is still found. A run is bounded
by non-digits only (`pan=4242...`, `card4242...` are found). Runs that fail Luhn (order
numbers, timestamps) stay as they are; one in ten random digit runs passes Luhn by chance
and gets masked too, which is the right way round for log hygiene.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from itertools import accumulate

PAN_MIN_DIGITS = 13
PAN_MAX_DIGITS = 19
KEEP_LAST = 4

# A digit run: groups of digits joined by a single space or dash, bounded by non-digits.
_RUN = re.compile(r"(?<!\d)\d+(?:[ -]\d+)*(?!\d)", re.ASCII)
_DIGITS = frozenset("0123456789")
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # Luhn: 2*d, minus 9 when that is two digits


def luhn_valid(digits: str) -> bool:
    """True when the ASCII digit string passes the Luhn (mod 10) check."""
    if not digits or not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        total += _DOUBLED[d] if i & 1 else d
    return total % 10 == 0


# Every run that could be a card number holds 13 digits with only separators between
# them: with the separators taken out and every digit made a "0" (one C pass over the
# text), a text without 13 "0"s in a row has nothing to mask. Most log lines have none:
# their digit runs are timestamps, ports and durations, each a call of _mask_run else.
_DIGITS_JOINED = str.maketrans({**dict.fromkeys("0123456789", "0"), " ": None, "-": None})
_THIRTEEN = "0" * PAN_MIN_DIGITS


def mask_pans(text: str) -> str:
    """`text` with every Luhn-valid 13-19 digit run masked to its last four digits."""
    if _THIRTEEN not in text.translate(_DIGITS_JOINED):
        return text
    return _RUN.sub(_mask_run, text)


def _mask_run(match: re.Match[str]) -> str:
    run = match.group(0)
    if run.isdigit():  # the common case: one plain run of digits
        if PAN_MIN_DIGITS <= len(run) <= PAN_MAX_DIGITS and luhn_valid(run):
            return "*" * (len(run) - KEEP_LAST) + run[-KEEP_LAST:]
        return run
    groups = re.split(r"[ -]", run)
    if sum(len(g) for g in groups) < PAN_MIN_DIGITS:
        return run
    masked = _digits_to_mask(groups)
    if not masked:
        return run
    out = []
    position = 0
    for char in run:
        if char in _DIGITS:
            out.append("*" if position in masked else char)
            position += 1
        else:
            out.append(char)
    return "".join(out)


def _digits_to_mask(groups: list[str]) -> set[int]:
    """Positions (among the run's digits) hidden by some Luhn-valid window of whole groups.

    Linear in the run: the Luhn sum of any window comes from two prefix sums (one per
    parity of the window's last digit), so a hostile line of a hundred thousand one-digit
    groups costs a fraction of a second, not seconds.
    """
    values = [ord(c) - 48 for c in "".join(groups)]
    n = len(values)
    # by_parity[p][i]: Luhn sum of the first i digits, doubling those whose index parity
    # is not p: the doubling of every window whose last digit has index parity p.
    by_parity = (
        list(accumulate((_DOUBLED[d] if i & 1 else d for i, d in enumerate(values)), initial=0)),
        list(accumulate((d if i & 1 else _DOUBLED[d] for i, d in enumerate(values)), initial=0)),
    )
    starts, ends, position = [], [], 0
    for group in groups:
        starts.append(position)
        position += len(group)
        ends.append(position)
    cover = [0] * (n + 1)  # difference array of the masked ranges
    for begin in starts:
        lo = bisect_left(ends, begin + PAN_MIN_DIGITS)
        hi = bisect_right(ends, begin + PAN_MAX_DIGITS)
        for end in ends[lo:hi]:
            sums = by_parity[(end - 1) & 1]
            if (sums[end] - sums[begin]) % 10 == 0:
                cover[begin] += 1
                cover[end - KEEP_LAST] -= 1
    return {i for i, depth in enumerate(accumulate(cover[:n])) if depth}


# --- credentials ----------------------------------------------------------------------
# What a credential looks like in a line of text, wherever it comes from (our loggers,
# a library's, Envoy's): API keys (sk_/pk_/rk_ + mode + body), refresh tokens (rt_),
# access tokens (JWTs: three base64url parts, the first a JSON header "eyJ..."), the
# value after "Bearer"/"Basic", and the value of a field named like a secret. A Python
# bytes repr escapes stray bytes (b'Bearer sk_test_...\xa0'): a credential ends at a
# quote, a backslash or whitespace, so the escape does not shield it; a quoted value of a
# secret-named field ends at its quote (a password may hold spaces).
_CREDENTIALS = re.compile(
    r"""
      \b(?P<key>(?:sk|pk|rk)_(?:test|live)_)[A-Za-z0-9_\-]+
    | \b(?P<refresh>rt_|invtok_)[A-Za-z0-9_\-]{8,}
    | (?P<client>\b[a-z]{2,4}_[A-Za-z0-9]+_secret_)[A-Za-z0-9_\-]+
    | \beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*
    | (?P<scheme>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=\-]{12,}
    | (?P<field>\b(?:authorization|password|passwd|client_secret|secret_key|api_key
          |service_token|access_token|refresh_token)\b["']?\s*[:=]\s*["']?
          (?:(?:bearer|basic)\s+)?)
          (?:(?<=")[^"\\]+|(?<=')[^'\\]+|[^\s'"\\,;}]+)
    """,
    re.VERBOSE | re.IGNORECASE,
)
REDACTED = "[REDACTED]"


# A piece of text that every match of _CREDENTIALS in an ASCII text holds (lowercase; the
# pattern ignores case): such a text with none of them has nothing to redact, and
# substring searches cost a fraction of the pattern's try at every position of a log line
# (ours are ASCII: JSON escapes the rest). Not for other text: ignoring case, the pattern's
# "s" also matches the long s (U+017F), its "k" the Kelvin sign (U+212A).
_CREDENTIAL_HINTS = (
    "k_test_", "k_live_", "rt_", "invtok_", "_secret_", "eyj", "bearer", "basic",
    "authorization", "passw", "secret_key", "api_key", "service_token", "access_token",
    "refresh_token",
)  # fmt: skip


def redact_credentials(text: str) -> str:
    """`text` with every API key, token and secret-named value replaced by [REDACTED]
    (an API key keeps its sk_test_ prefix: which kind of key it was helps debugging)."""
    if text.isascii():
        lowered = text.lower()
        if not any(hint in lowered for hint in _CREDENTIAL_HINTS):
            return text
    return _CREDENTIALS.sub(_redact, text)


def _redact(match: re.Match[str]) -> str:
    keep = match.group("key") or match.group("refresh") or match.group("client")
    keep = keep or match.group("scheme")
    keep = keep or match.group("field") or ""
    return keep + REDACTED


def scrub(text: str) -> str:
    """What every log line goes through: card numbers masked, credentials redacted."""
    return redact_credentials(mask_pans(text))
