"""The rules of the house that a reviewer would otherwise have to remember: which layer may
import which (docs/architecture.md, "Where the code lives").

    core/      imports no outer layer, no generated bindings and no driver; its shared
               kernel imports no context
    adapters/  never imports servers/, the sandbox or tests
    sandbox/   (an external system) never imports servers/ or tests
    servers/   never imports tests
    paygate/   (generated) imports nothing hand-written
    clients/   imports nothing of ours: it is what a merchant installs
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"core", "adapters", "sandbox", "servers", "paygate", "tests"}
FORBIDDEN_IN_CORE = OURS - {"core"} | {
    "grpc", "grpc_status", "google", "sqlalchemy", "asyncpg", "redis", "cryptography",
    "limits", "httpx", "alembic", "qrcode",
}  # fmt: skip
FORBIDDEN = {
    "core": FORBIDDEN_IN_CORE,
    "adapters": {"servers", "sandbox", "tests"},
    "sandbox": {"servers", "tests"},
    "servers": {"tests"},
    "paygate": OURS - {"paygate"},
    "clients": OURS,
}


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def imported_roots(path: Path) -> set[str]:
    return {module.split(".")[0] for module in imported_modules(path)}


def offenders_in(folder: str, forbidden: set[str]) -> dict[str, list[str]]:
    found = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & forbidden)
        for path in (ROOT / folder).rglob("*.py")
    }
    return {p: bad for p, bad in found.items() if bad}


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_layer_imports_what_it_must_not(folder: str) -> None:
    assert any((ROOT / folder).rglob("*.py")), f"{folder}/ has no Python files to check"
    assert offenders_in(folder, FORBIDDEN[folder]) == {}


def test_the_shared_kernel_imports_no_context() -> None:
    """core/shared serves the contexts; it never points up at them (or at
    core/unit_of_work.py, which composes them)."""
    offenders = {}
    for path in (ROOT / "core" / "shared").rglob("*.py"):
        parts = [m.split(".") for m in imported_modules(path)]
        bad = sorted(".".join(p) for p in parts if p[0] == "core" and p[1:2] != ["shared"])
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_no_sqlite_anywhere() -> None:
    for folder in ("core", "adapters", "sandbox", "servers"):
        for path in (ROOT / folder).rglob("*.py"):
            assert "sqlite" not in path.read_text().lower(), path


def test_the_merchant_cli_is_a_client_of_the_public_api_only() -> None:
    # It runs on merchants' machines against the generated client: nothing of the gateway.
    forbidden = {"core", "adapters", "sandbox", "paygate", "grpc", "sqlalchemy"}
    assert offenders_in("servers/cli/merchant", forbidden) == {}
    assert offenders_in("servers/cli/merchant", set()) == {}  # the folder is found
    assert list((ROOT / "servers/cli/merchant").rglob("*.py"))
