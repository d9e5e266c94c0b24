"""The password policy: long enough, not a known common password, not the email.

Length over composition rules (NIST SP 800-63B 5.1.1.2): at least 12 characters, any
characters, checked against a list of passwords that attackers try first. The list is
common_passwords.txt.gz next to this module: 19,640 lower-cased passwords from breach
corpora compiled by Royce Williams, as shipped by Django (BSD-3-Clause). Most entries
are shorter than 12 characters and so already refused by the length rule; they stay in
the file so that a shorter minimum could never silently let them through.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources

from core.shared.errors import Violations

MIN_LENGTH = 12
# Argon2 would hash megabytes happily, but a bound keeps one request's cost predictable.
MAX_LENGTH = 256


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    data = resources.files("core.access").joinpath("common_passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


def check_password(password: str, *, email: str, violations: Violations) -> None:
    """Adds a violation of the field `password` when the policy refuses it.

    The descriptions never quote the password: errors end up in client logs.
    """
    if len(password) < MIN_LENGTH:
        if password:
            violations.add("password", f"must be at least {MIN_LENGTH} characters")
        else:
            violations.missing("password", f"is required: at least {MIN_LENGTH} characters")
    elif len(password) > MAX_LENGTH:
        violations.add("password", f"must be at most {MAX_LENGTH} characters")
    elif password.lower() in common_passwords():
        violations.add("password", "is too common: choose one that is not on breach lists")
    elif email and _contains_email(password.lower(), email):
        violations.add("password", "must not contain the email address")


def _contains_email(password: str, email: str) -> bool:
    local = email.split("@", 1)[0]
    return email in password or (len(local) >= 4 and local in password)
