"""Vault fixtures: the vault's own database (split mode), a database with both migration
chains (embedded mode), and vault harnesses over memory and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.migrate import create_database, drop_database, migrate
from adapters.sql.vault.migrate import migrate_vault
from adapters.sql.vault.unit_of_work import SqlVaultUnitOfWorkFactory
from core.vault.ports import VaultUnitOfWorkFactory
from tests.contract.vault.vault_helpers import VaultHarness, make_harness
from tests.fakes.vault import MemoryVaultUnitOfWorkFactory


@pytest.fixture(scope="session")
async def vault_database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """The vault's own database, as in split mode: only the vault's chain is migrated."""
    name = f"paygate_vault_test_{secrets.token_hex(6)}"
    url = await create_database(postgres_admin_url, name)
    try:
        await migrate_vault(url)
        yield url
    finally:
        await drop_database(postgres_admin_url, name)


@pytest.fixture(scope="session")
async def embedded_database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """One database with both chains, as in embedded mode."""
    name = f"paygate_embedded_test_{secrets.token_hex(6)}"
    url = await create_database(postgres_admin_url, name)
    try:
        await migrate(url)
        await migrate_vault(url)
        yield url
    finally:
        await drop_database(postgres_admin_url, name)


@pytest.fixture(scope="session")
async def vault_engine(vault_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(vault_database_url, pool_size=5)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sql_vault_uow(vault_engine: AsyncEngine) -> SqlVaultUnitOfWorkFactory:
    return SqlVaultUnitOfWorkFactory(vault_engine)


@pytest.fixture(params=["memory", "postgres"])
def any_vault_uow(request: pytest.FixtureRequest) -> VaultUnitOfWorkFactory:
    """The same test against the in-memory adapter and against PostgreSQL."""
    if request.param == "memory":
        return MemoryVaultUnitOfWorkFactory()
    factory: VaultUnitOfWorkFactory = request.getfixturevalue("sql_vault_uow")
    return factory


@pytest.fixture
def vault(any_vault_uow: VaultUnitOfWorkFactory) -> VaultHarness:
    """A Vault use-case object over memory or PostgreSQL, with a merchant of its own."""
    return make_harness(any_vault_uow)
