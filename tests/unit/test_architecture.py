"""The rules of the house that a reviewer would otherwise have to remember."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CORE = {
    "adapters", "sandbox", "servers", "paygate", "grpc", "grpc_status", "google", "sqlalchemy",
    "asyncpg", "redis", "cryptography", "limits", "httpx", "alembic", "qrcode",
}  # fmt: skip


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_core_imports_no_outer_layer_or_driver() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN_IN_CORE)
        for path in (ROOT / "core").rglob("*.py")
    }
    assert {p: bad for p, bad in offenders.items() if bad} == {}


def test_the_shared_kernel_imports_no_context() -> None:
    """core/shared serves the contexts; it never points up at them (or at
    core/unit_of_work.py, which composes them)."""
    offenders = {}
    for path in (ROOT / "core" / "shared").rglob("*.py"):
        modules = imported_modules(path)
        parts = [m.split(".") for m in modules]
        bad = sorted(".".join(p) for p in parts if p[0] == "core" and p[1:2] != ["shared"])
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_no_sqlite_anywhere() -> None:
    for folder in ("core", "adapters", "servers"):
        for path in (ROOT / folder).rglob("*.py"):
            assert "sqlite" not in path.read_text().lower(), path


def offenders_in(folder: str, forbidden: set[str]) -> dict[str, list[str]]:
    found = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & forbidden)
        for path in (ROOT / folder).rglob("*.py")
    }
    return {p: bad for p, bad in found.items() if bad}


def test_adapters_import_neither_servers_nor_the_sandbox_nor_tests() -> None:
    assert offenders_in("adapters", {"servers", "sandbox", "tests"}) == {}


def test_the_sandbox_never_imports_servers_or_tests() -> None:
    assert offenders_in("sandbox", {"servers", "tests"}) == {}


def test_servers_never_import_tests() -> None:
    assert offenders_in("servers", {"tests"}) == {}
