"""PasswordHasher over argon2-cffi: argon2id, RFC 9106's second recommended parameters.

Hashing costs ~50 ms of CPU and 64 MiB of memory by design. It runs in a worker thread so
that the event loop keeps serving other calls, and at most `concurrency` hashes run at once
per process, so a burst of logins queues instead of exhausting memory.
"""

from __future__ import annotations

import asyncio

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2Hasher:
    def __init__(
        self,
        parameters: argon2.Parameters = argon2.profiles.RFC_9106_LOW_MEMORY,
        *,
        concurrency: int = 4,
    ) -> None:
        if parameters.type is not argon2.Type.ID:
            raise ValueError("paygate hashes passwords with argon2id only")
        self._hasher = argon2.PasswordHasher.from_parameters(parameters)
        self._slots = asyncio.Semaphore(concurrency)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
