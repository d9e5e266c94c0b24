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

PAN_MIN_DIGITS = 13
PAN_MAX_DIGITS = 19
KEEP_LAST = 4

# A digit run: groups of digits joined by a single space or dash, bounded by non-digits.
_RUN = re.compile(r"(?<!\d)\d+(?:[ -]\d+)*(?!\d)", re.ASCII)
_DIGITS = frozenset("0123456789")


def luhn_valid(digits: str) -> bool:
    """True when the ASCII digit string passes the Luhn (mod 10) check."""
    if not digits or not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask_pans(text: str) -> str:
    """`text` with every Luhn-valid 13-19 digit run masked to its last four digits."""
    if not any(c.isdigit() for c in text):
        return text
    return _RUN.sub(_mask_run, text)


def _mask_run(match: re.Match[str]) -> str:
    run = match.group(0)
    digit_count = sum(c in _DIGITS for c in run)
    if digit_count < PAN_MIN_DIGITS:
        return run
    groups = re.split(r"[ -]", run)
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
    """Positions (among the run's digits) hidden by some Luhn-valid window of whole groups."""
    starts = []
    position = 0
    for group in groups:
        starts.append(position)
        position += len(group)
    masked: set[int] = set()
    for first in range(len(groups)):
        digits = ""
        for last in range(first, len(groups)):
            digits += groups[last]
            if len(digits) > PAN_MAX_DIGITS:
                break
            if len(digits) >= PAN_MIN_DIGITS and luhn_valid(digits):
                begin = starts[first]
                masked.update(range(begin, begin + len(digits) - KEEP_LAST))
    return masked
