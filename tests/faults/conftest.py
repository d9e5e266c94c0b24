"""Fault tests start real processes, like tests/e2e: they are marked e2e too, and get a
migrated database of their own as the e2e gateways do (`gateway_database_url`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import gateway_database_url

__all__ = ["gateway_database_url"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
