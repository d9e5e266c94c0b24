"""The transaction of every in-memory unit of work.

It works on a deep copy of the store's tables and swaps it in on commit, holding the
store's lock throughout, so the fakes are all-or-nothing and serializable: the behaviour
the contract tests demand of the PostgreSQL adapters.

`autocommit()` stands in for a statement run alone (adapters/sql/unit_of_work.py,
LazyTransaction.autocommit): the one repository call that changes the tables is
committed as it returns, on its own; another that changes them after it is refused.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

T = TypeVar("T")


class MemoryStore(Generic[T]):
    def __init__(self, tables: T) -> None:
        self.tables = tables
        self.lock = asyncio.Lock()
        self.commits = 0


class MemoryTransaction(Generic[T]):
    def __init__(self, store: MemoryStore[T]) -> None:
        self._store = store
        # As LazyTransaction's: None, a transaction; True, the next write runs alone;
        # False, it ran.
        self._alone: bool | None = None

    def _rebind(self) -> None:
        """Puts the repositories on `self._work`, the tables this transaction changes."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self._store.lock.acquire()
        self._work = copy.deepcopy(self._store.tables)
        before = set(vars(self))
        self._rebind()
        self._repositories = [name for name in vars(self) if name not in before]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._store.lock.release()

    async def commit(self) -> None:
        if self._alone is not None:
            return  # the statement alone committed itself
        self._commit()

    def _commit(self) -> None:
        self._store.tables = self._work
        self._store.commits += 1
        self._work = copy.deepcopy(self._work)
        self._rebind()

    def autocommit(self) -> None:
        """The next repository call that writes is committed on its own as it returns;
        a second write is refused (RuntimeError), as the SQL unit of work refuses it."""
        if self._alone is not None or self._work != self._store.tables:
            raise RuntimeError("autocommit() after the transaction began")
        self._alone = True
        self._wrap()

    def _wrap(self) -> None:
        for name in self._repositories:
            setattr(self, name, _OneStatement(getattr(self, name), self._statement_ran))

    def _statement_ran(self, failed: bool) -> None:
        if self._work == self._store.tables:
            return  # a read, or a write that changed nothing
        if failed or not self._alone:
            # A failed statement writes nothing; a second one is refused unwritten.
            self._work = copy.deepcopy(self._store.tables)
            self._rebind()
            self._wrap()
            if failed:
                return
            raise RuntimeError("a unit of work in autocommit runs one statement")
        self._alone = False
        self._commit()
        self._wrap()


class _OneStatement:
    """A repository of a unit of work in autocommit: each call is followed by the unit
    of work's check (commit the one write, refuse a second)."""

    def __init__(self, repository: Any, ran: Callable[[bool], None]) -> None:
        self._repository = repository
        self._ran = ran

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._repository, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = await method(*args, **kwargs)
            except BaseException:
                self._ran(True)
                raise
            self._ran(False)
            return result

        return call
