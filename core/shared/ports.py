"""Ports every context shares."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class IdGenerator(Protocol):
    def new(self, prefix: str) -> str:
        """A new time-ordered id such as `pi_01jd...`."""
        ...

    def secret(self, nbytes: int = 24) -> str:
        """An unguessable url-safe token (client secrets, API keys)."""
        ...
