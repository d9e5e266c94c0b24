"""docs/stripe-compatibility.md says exactly what servers/stripe/surface.py declares: every
route, every parameter with its support, the refused resources and the test cards."""

from __future__ import annotations

import re
from pathlib import Path

from servers.stripe.forms import Kind, Param
from servers.stripe.surface import REFUSED_RESOURCES, ROUTES, TEST_CARDS

DOC = Path(__file__).resolve().parents[3] / "docs" / "stripe-compatibility.md"
ROW = re.compile(r"^\| `([^`]+)` \| `([^`]+)` \| (supported|partial) \| (.*) \|$")


def _rows(name: str, param: Param, prefix: str = "") -> list[tuple[str, str, str, str]]:
    full = f"{prefix}[{name}]" if prefix else name
    if param.kind is Kind.OBJECT and not param.partial:
        return [row for sub, p in (param.fields or {}).items() for row in _rows(sub, p, full)]
    note = param.partial
    if param.choices:
        note = (note + "; " if note else "") + "one of " + ", ".join(param.choices)
    return [("", full, "partial" if param.partial else "supported", note)]


def declared() -> set[tuple[str, str, str, str]]:
    return {
        (route.name, name, support, note)
        for route in ROUTES
        for param_name, param in route.params.items()
        for _, name, support, note in _rows(param_name, param)
    }


def documented() -> set[tuple[str, str, str, str]]:
    rows = set()
    for line in DOC.read_text().splitlines():
        match = ROW.match(line.strip())
        if match:
            route, name, support, note = match.groups()
            rows.add((route, name, support, note.strip()))
    return rows


def test_every_declared_parameter_is_documented_as_it_is_supported() -> None:
    assert declared() - documented() == set(), "rows missing from the doc"
    assert documented() - declared() == set(), "rows in the doc that the surface does not have"


def test_every_route_and_refused_resource_is_named() -> None:
    text = DOC.read_text()
    for route in ROUTES:
        assert f"`{route.name}`" in text
    for resource in REFUSED_RESOURCES:
        assert f"`{resource}`" in text
    for name in TEST_CARDS:
        assert f"`pm_card_{name}`" in text
