"""The dashboard shows or hides actions by the user's role with its own copy of the role
table (clients/dashboard/src/roles.json, bundled into the app): it must be the table
core/access/roles.py enforces, or a button would be offered that the API refuses (or
hidden from someone who may use it)."""

from __future__ import annotations

import json
from pathlib import Path

from core.access.roles import ROLE_PERMISSIONS, ROLE_SUMMARIES, Role

ROLES_JSON = Path(__file__).resolve().parents[2] / "clients" / "dashboard" / "src" / "roles.json"


def expected() -> dict[str, dict[str, object]]:
    return {
        role.value: {"summary": ROLE_SUMMARIES[role], "permissions": sorted(ROLE_PERMISSIONS[role])}
        for role in Role
    }


def test_the_dashboards_role_table_is_the_one_the_api_enforces() -> None:
    found = json.loads(ROLES_JSON.read_text())
    assert found == expected(), (
        "clients/dashboard/src/roles.json differs from core/access/roles.py; rewrite it with:\n"
        "  .venv/bin/python -m tests.unit.test_dashboard_roles"
    )


if __name__ == "__main__":
    ROLES_JSON.write_text(json.dumps(expected(), indent=2) + "\n")
