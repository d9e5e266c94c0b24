"""Dashboard users: who they are and the lockout that slows down password guessing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

# Five wrong passwords in a row lock the account for thirty minutes. The counter resets
# on a successful login and when a lock is set, so each lock needs five new failures.
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=30)

MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normalize_email(raw: str) -> str:
    """Trimmed and lower-cased: one account per address however it is typed.

    RFC 5321 lets a mail server treat the local part case-sensitively; none of the big
    providers does, and two accounts for "Ann@x.com" and "ann@x.com" would be a trap.
    """
    return raw.strip().lower()


def is_valid_email(email: str) -> bool:
    return len(email) <= MAX_EMAIL_LENGTH and _EMAIL.match(email) is not None


@dataclass
class User:
    id: str
    email: str  # normalized
    password_hash: str  # a PHC string (argon2id); never the password
    created: datetime
    failed_logins: int = 0
    locked_until: datetime | None = None
    last_login_at: datetime | None = None

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def record_failure(self, now: datetime) -> bool:
        """Counts a wrong password; True when this one locks the account."""
        self.failed_logins += 1
        if self.failed_logins >= MAX_FAILED_LOGINS:
            self.failed_logins = 0
            self.locked_until = now + LOCKOUT
            return True
        return False

    def record_success(self, now: datetime) -> None:
        self.failed_logins = 0
        self.locked_until = None
        self.last_login_at = now
