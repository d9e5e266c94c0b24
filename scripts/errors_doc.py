#!/usr/bin/env python3
"""Renders the generated parts of docs/errors.md from the code that raises the errors.

    scripts/errors_doc.py           rewrite the generated sections in place
    scripts/errors_doc.py --check   exit 1 if they are out of date (`make check-gen`)

Sources: every core error class (every module of core/ is imported, so none is missed)
with the gRPC status servers/grpc/errors.py maps it to; and every stable reason string
written in core/, adapters/, sandbox/ and servers/: `reason="..."` arguments,
`default_reason` and `*_REASON` constants, and the members of ErrorCode (a failed
payment's `last_payment_error.code`, which is also its reason).
tests/unit/test_error_catalogue.py fails when the doc is stale.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import doc_sections  # noqa: E402

import core  # noqa: E402
from core.payments.model import ErrorCode  # noqa: E402
from core.shared.errors import PaygateError  # noqa: E402
from servers.grpc.errors import STATUS_CODES  # noqa: E402

DOC = ROOT / "docs" / "errors.md"
LAYERS = ("core", "adapters", "sandbox", "servers")
REASON = re.compile(r"^[A-Z][A-Z0-9_]+$")


def error_classes() -> list[type[PaygateError]]:
    """Every PaygateError subclass of core, after importing every module of core."""
    for module in pkgutil.walk_packages(core.__path__, "core."):
        importlib.import_module(module.name)
    found, todo = [], [PaygateError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls is not PaygateError and cls.__module__.startswith("core."):
            found.append(cls)  # not the subclasses tests define for themselves
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


def status_of(cls: type[PaygateError]) -> str:
    for base in cls.__mro__:
        if base in STATUS_CODES:
            return str(STATUS_CODES[base].name)
    return ""


def _constant(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and REASON.match(node.value):
        return node.value
    return None


def _is_dict_key(tree: ast.AST, node: ast.AST) -> bool:
    return any(isinstance(d, ast.Dict) and node in d.keys for d in ast.walk(tree))


def reasons() -> dict[str, set[str]]:
    """Reason -> the modules that write it."""
    found: dict[str, set[str]] = defaultdict(set)
    # Module-level reason constants (INVALID_NUMBER = "INVALID_NUMBER"), wherever defined:
    # a `reason=INVALID_NUMBER` in another module is resolved by name.
    constants: dict[str, ast.AST] = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            for node in ast.parse(path.read_text(), str(path)).body:
                if isinstance(node, ast.Assign) and _constant(node.value):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            constants[target.id] = node.value
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            module = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
            tree = ast.parse(path.read_text(), str(path))
            # Module-level tables of reasons, read as `reason=TABLE[key]`.
            tables = {
                target.id: node.value
                for node in tree.body
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                for target in node.targets
                if isinstance(target, ast.Name)
            }
            for node in ast.walk(tree):
                values: list[ast.AST] = []
                if isinstance(node, ast.keyword) and node.arg == "reason":
                    values = [node.value]
                    if isinstance(node.value, ast.Name) and node.value.id in constants:
                        values.append(constants[node.value.id])
                    table = node.value.value if isinstance(node.value, ast.Subscript) else None
                    if isinstance(table, ast.Name) and table.id in tables:
                        values.append(tables[table.id])
                elif isinstance(node, ast.Assign | ast.AnnAssign):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names = [t.id for t in targets if isinstance(t, ast.Name)]
                    if any(n == "default_reason" or n.endswith("REASON") for n in names):
                        values = [node.value] if node.value is not None else []
                for value in values:
                    for part in ast.walk(value):  # `a or ("X" if c else None)` included
                        if isinstance(part, ast.Dict):
                            continue
                        reason = _constant(part)
                        if reason and not _is_dict_key(value, part):
                            found[reason].add(module)
    for code in ErrorCode:
        found[code.value].add("core.payments.model")
    return found


def classes_section() -> str:
    lines = ["| error | gRPC status | default reason |", "| --- | --- | --- |"]
    for cls in error_classes():
        name = f"`{cls.__module__}.{cls.__name__}`"
        lines.append(f"| {name} | {status_of(cls) or '**unmapped**'} | `{cls.default_reason}` |")
    return "\n".join(lines) + "\n"


def reasons_section() -> str:
    lines = ["| reason | written in |", "| --- | --- |"]
    for reason, modules in sorted(reasons().items()):
        where = ", ".join(f"`{m}`" for m in sorted(modules))
        lines.append(f"| `{reason}` | {where} |")
    return "\n".join(lines) + "\n"


SECTIONS = {"error-classes": classes_section, "reasons": reasons_section}


def render(text: str) -> str:
    return doc_sections.render(text, SECTIONS)


if __name__ == "__main__":
    sys.exit(doc_sections.main(DOC, SECTIONS, sys.argv))
