"""Roles and what each may do. docs/access.md renders this table for humans."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    DEVELOPER = "DEVELOPER"
    MANAGER = "MANAGER"
    STAFF = "STAFF"


PERMISSIONS = frozenset({
    "payments:read", "payments:write", "refunds:write", "api_keys:read", "api_keys:write",
    "members:read", "members:write", "webhooks:read", "webhooks:write", "balance:read",
    "payouts:write", "disputes:read", "disputes:write", "vault:tokenize", "vault:detokenize",
    "account:write",
})  # fmt: skip

_ADMIN = PERMISSIONS - {"account:write", "vault:detokenize"}
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OWNER: PERMISSIONS - {"vault:detokenize"},
    Role.ADMIN: _ADMIN,
    Role.DEVELOPER: frozenset({
        "payments:read", "payments:write", "refunds:write", "api_keys:read", "api_keys:write",
        "webhooks:read", "webhooks:write", "balance:read", "disputes:read", "vault:tokenize",
        "members:read",
    }),
    Role.MANAGER: frozenset({
        "payments:read", "payments:write", "refunds:write", "balance:read", "payouts:write",
        "disputes:read", "disputes:write", "vault:tokenize", "members:read",
    }),
    Role.STAFF: frozenset({"payments:read", "balance:read", "disputes:read", "members:read"}),
}  # fmt: skip
# A publishable key has no role; the proto marks the few methods it may call.
PUBLISHABLE_PERMISSIONS = frozenset({"vault:tokenize", "payments:read", "payments:write"})


def permissions_of(role: Role) -> frozenset[str]:
    return ROLE_PERMISSIONS[role]
