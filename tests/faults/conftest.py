"""Fault tests start real processes, like tests/e2e: they are marked e2e too, and get a
migrated database of their own as the e2e gateways do (`gateway_database_url`).

`proxied` is a gateway whose dependencies are each behind a fault proxy
(tests/faults/proxied.py), with Envoy's fault filter on, shared by the modules here."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from adapters.failpoints import ENV
from tests.databases import fresh_database
from tests.e2e.conftest import gateway_database_url
from tests.faults.proxied import Proxied, proxied_gateway

__all__ = ["gateway_database_url"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def control_file() -> Iterator[Path]:
    """The fail points' control file (tests/faults/chaos.py writes it); the children of a
    gateway started while it exists inherit PAYGATE_FAILPOINTS."""
    path = Path(f"/tmp/paygate-failpoints-{os.getpid()}")
    path.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV, str(path))
        yield path
    path.unlink(missing_ok=True)


@pytest.fixture(scope="package")
async def proxied_database(postgres_admin_url: str) -> AsyncIterator[str]:
    # Of its own: invariants and the worker's recovery see only this gateway's rows.
    async with fresh_database(postgres_admin_url, "paygate_proxied") as url:
        yield url


@pytest.fixture(scope="package")
def proxied(proxied_database: str, redis_url: str) -> Iterator[Proxied]:
    with proxied_gateway(proxied_database, redis_url, envoy_fault_injection=True) as running:
        yield running
