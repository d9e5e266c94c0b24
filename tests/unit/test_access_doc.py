"""docs/access.md shows the policy the code enforces: its generated tables are current."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str) -> ModuleType:
    """scripts/NAME.py as a module (the scripts are run as files, not imported)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / f"scripts/{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def access_doc() -> ModuleType:
    return load_script("access_doc")


def test_the_generated_sections_match_roles_protos_and_limits() -> None:
    script = access_doc()
    current = script.DOC.read_text()
    assert script.render(current) == current, "docs/access.md is stale: run `make gen`"


def test_every_served_rpc_and_role_is_in_the_doc() -> None:
    from core.access.roles import Role
    from servers.roles.api import PAGE_SERVICES, SERVICES

    text = (ROOT / "docs/access.md").read_text()
    for service in (*SERVICES, *PAGE_SERVICES):
        for method in service.descriptor.methods:
            assert f"| {service.descriptor.name}.{method.name} |" in text
    for role in Role:
        assert f"| {role.value} |" in text
