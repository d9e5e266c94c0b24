"""What every unit of work is: one transaction, committed or rolled back as a whole.

The repositories a unit of work carries belong to the contexts: each declares its own
scope (core.payments.ports.PaymentsScope, core.access.ports.AccessScope,
core.ledger.ports.LedgerScope, core.vault.ports.VaultUnitOfWork), and core/unit_of_work.py
composes the gateway's. The shared kernel knows none of them.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self


class Transaction(Protocol):
    """`async with uow:` opens a transaction; leaving without `commit()` rolls it back."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...
