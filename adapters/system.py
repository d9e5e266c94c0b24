"""The real clock and id generator."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime

from core.shared.ids import encode, uuid7_int


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    """UUIDv7 ids, monotonic within this process (RFC 9562 method 1: a counter in rand_a).

    Two processes creating ids in the same millisecond may interleave; that only blurs
    the order of objects created within one millisecond of each other.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def new(self, prefix: str) -> str:
        with self._lock:
            ms = max(time.time_ns() // 1_000_000, self._last_ms)
            if ms == self._last_ms:
                self._counter += 1
                if self._counter > 0xFFF:  # counter spent: borrow the next millisecond
                    ms, self._counter = ms + 1, secrets.randbits(8)
            else:
                self._counter = secrets.randbits(8)
            self._last_ms = ms
            counter = self._counter
        return encode(prefix, uuid7_int(ms, counter, secrets.randbits(62)))

    def secret(self, nbytes: int = 24) -> str:
        return secrets.token_urlsafe(nbytes)
