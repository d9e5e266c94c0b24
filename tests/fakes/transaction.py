"""The transaction of every in-memory unit of work.

It works on a deep copy of the store's tables and swaps it in on commit, holding the
store's lock throughout, so the fakes are all-or-nothing and serializable: the behaviour
the contract tests demand of the PostgreSQL adapters.
"""

from __future__ import annotations

import asyncio
import copy
from types import TracebackType
from typing import Generic, Self, TypeVar

T = TypeVar("T")


class MemoryStore(Generic[T]):
    def __init__(self, tables: T) -> None:
        self.tables = tables
        self.lock = asyncio.Lock()
        self.commits = 0


class MemoryTransaction(Generic[T]):
    def __init__(self, store: MemoryStore[T]) -> None:
        self._store = store

    def _rebind(self) -> None:
        """Puts the repositories on `self._work`, the tables this transaction changes."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self._store.lock.acquire()
        self._work = copy.deepcopy(self._store.tables)
        self._rebind()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._store.lock.release()

    async def commit(self) -> None:
        self._store.tables = self._work
        self._store.commits += 1
        self._work = copy.deepcopy(self._work)
        self._rebind()
