"""Fixtures that run one contract test against every unit-of-work implementation."""

from __future__ import annotations

import pytest

from adapters.system import RandomIds
from core.unit_of_work import UnitOfWorkFactory
from tests.contract.helpers import add_merchant


@pytest.fixture(params=["memory", "postgres"])
def any_uow_factory(request: pytest.FixtureRequest) -> UnitOfWorkFactory:
    """The same test, once against the in-memory fake and once against PostgreSQL."""
    name = "memory_uow_factory" if request.param == "memory" else "uow_factory"
    factory: UnitOfWorkFactory = request.getfixturevalue(name)
    return factory


@pytest.fixture
async def merchant_id(any_uow_factory: UnitOfWorkFactory, ids: RandomIds) -> str:
    """A merchant of this test's own: keeps tests independent on a shared database."""
    return await add_merchant(any_uow_factory, ids)
