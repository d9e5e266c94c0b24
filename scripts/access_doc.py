#!/usr/bin/env python3
"""Renders the generated parts of docs/access.md from the code that enforces them.

    scripts/access_doc.py           rewrite the generated sections in place
    scripts/access_doc.py --check   exit 1 if they are out of date (`make check-gen`)

Sources: core/access/roles.py (roles, permissions), core/access/rate_limits.py (default
limits) and the (paygate.v1.access) and google.api.http options of every served RPC
(servers/roles/api.py SERVICES and PAGE_SERVICES), so the table of who may call what
is the policy itself. tests/unit/test_access_doc.py fails when the doc is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import doc_sections  # noqa: E402
from google.api import annotations_pb2  # noqa: E402
from paygate.v1 import options_pb2  # noqa: E402

from core.access.rate_limits import DEFAULT_LIMITS, PER_ORIGIN_CLASSES  # noqa: E402
from core.access.roles import (  # noqa: E402
    PERMISSIONS,
    PUBLISHABLE_PERMISSIONS,
    ROLE_PERMISSIONS,
    ROLE_SUMMARIES,
    Role,
)
from servers.roles.api import PAGE_SERVICES, SERVICES  # noqa: E402

DOC = ROOT / "docs" / "access.md"
ROLES = list(Role)
YES, NO = "yes", ""


def roles_section() -> str:
    lines = ["| role | may |", "| --- | --- |"]
    lines += [f"| {role.value} | {ROLE_SUMMARIES[role]} |" for role in ROLES]
    lines += ["", "| permission | " + " | ".join(r.value for r in ROLES) + " |"]
    lines += ["| --- |" + " :-: |" * len(ROLES)]
    for permission in sorted(PERMISSIONS):
        marks = [YES if permission in ROLE_PERMISSIONS[r] else NO for r in ROLES]
        lines.append(f"| `{permission}` | " + " | ".join(marks) + " |")
    allowed = _code(PUBLISHABLE_PERMISSIONS)
    lines += ["", "A publishable key has no role; it may call only the methods marked "
              f"`publishable` below, which need one of {allowed}."]  # fmt: skip
    return "\n".join(lines) + "\n"


def _code(values: frozenset[str]) -> str:
    return ", ".join(f"`{v}`" for v in sorted(values))


def _route(rule: annotations_pb2.http) -> str:  # type: ignore[valid-type]
    verb = rule.WhichOneof("pattern")
    return f"`{verb.upper()} {getattr(rule, verb)}`" if verb else ""


def rpcs_section() -> str:
    head = "| RPC | REST | needs | limit class | " + " | ".join(r.value[:3] for r in ROLES)
    lines = [head + " | pk |", "| --- | --- | --- | --- |" + " :-: |" * (len(ROLES) + 1)]
    for service in (*SERVICES, *PAGE_SERVICES):
        for method in service.descriptor.methods:
            options = method.GetOptions()
            access = options.Extensions[options_pb2.access]
            route = _route(options.Extensions[annotations_pb2.http])
            if access.unauthenticated:
                needs, marks = "nothing (per address)", [YES] * len(ROLES)
            elif access.user_only:
                needs, marks = "a user session", ["user"] * len(ROLES)
            else:
                needs = f"`{access.permission}`"
                marks = [YES if access.permission in ROLE_PERMISSIONS[r] else NO for r in ROLES]
            publishable = YES if access.publishable or access.unauthenticated else NO
            name = f"{service.descriptor.name}.{method.name}"
            limit_class = access.rate_limit_class or "default"
            lines.append(
                f"| {name} | {route} | {needs} | {limit_class} | "
                + " | ".join(marks) + f" | {publishable} |"
            )  # fmt: skip
    return "\n".join(lines) + "\n"


def limits_section() -> str:
    lines = ["| class | counted per | default limits |", "| --- | --- | --- |"]
    for name, limits in DEFAULT_LIMITS.items():
        per = "client address" if name in PER_ORIGIN_CLASSES else "merchant"
        lines.append(f"| {name} | {per} | {', '.join(limits)} |")
    return "\n".join(lines) + "\n"


SECTIONS = {"roles": roles_section, "rpcs": rpcs_section, "rate-limits": limits_section}


def render(text: str) -> str:
    return doc_sections.render(text, SECTIONS)


if __name__ == "__main__":
    sys.exit(doc_sections.main(DOC, SECTIONS, sys.argv))
