"""The vault's unit of work over PostgreSQL (core.vault.ports.VaultUnitOfWork).

The same transaction handling as the other contexts' (adapters/sql/unit_of_work.py), on an
engine of the vault's own: in split mode it points at VAULT_DATABASE_URL, with database
credentials that only the vault holds.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.unit_of_work import SqlTransaction
from adapters.sql.vault.repositories import (
    SqlDataKeys,
    SqlDetokenizations,
    SqlPaymentMethods,
    SqlTokens,
)
from core.vault.ports import (
    DataKeyRepository,
    DetokenizationAudit,
    PaymentMethodRepository,
    TokenRepository,
)


class SqlVaultUnitOfWork(SqlTransaction):
    # Typed as the ports (see SqlUnitOfWork).
    tokens: TokenRepository
    payment_methods: PaymentMethodRepository
    data_keys: DataKeyRepository
    detokenizations: DetokenizationAudit

    def _bind(self, connection: AsyncConnection) -> None:
        self.tokens = SqlTokens(connection)
        self.payment_methods = SqlPaymentMethods(connection)
        self.data_keys = SqlDataKeys(connection)
        self.detokenizations = SqlDetokenizations(connection)


class SqlVaultUnitOfWorkFactory:
    """Callable that returns a new SqlVaultUnitOfWork: core's VaultUnitOfWorkFactory."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def __call__(self) -> SqlVaultUnitOfWork:
        return SqlVaultUnitOfWork(self.engine)
