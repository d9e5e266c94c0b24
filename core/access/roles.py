"""Roles and what each may do. scripts/access_doc.py renders this table into docs/access.md.

A permission is `resource:action`. Each RPC names the one it needs in its proto
((paygate.v1.access) option), so "who may call what" is this table joined with the protos.
"""

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
    "account:write", "risk:read", "risk:write",
})  # fmt: skip

_ADMIN = PERMISSIONS - {"account:write", "vault:detokenize"}
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    # vault:detokenize belongs to no role: only internal services (the acquirer connectors
    # in the PCI zone) may turn a token back into a card number.
    Role.OWNER: PERMISSIONS - {"vault:detokenize"},
    Role.ADMIN: _ADMIN,
    Role.DEVELOPER: frozenset({
        "payments:read", "payments:write", "refunds:write", "api_keys:read", "api_keys:write",
        "webhooks:read", "webhooks:write", "balance:read", "disputes:read", "vault:tokenize",
        "members:read", "risk:read",
    }),
    Role.MANAGER: frozenset({
        "payments:read", "payments:write", "refunds:write", "balance:read", "payouts:write",
        "disputes:read", "disputes:write", "vault:tokenize", "members:read", "risk:read",
        "risk:write",
    }),
    Role.STAFF: frozenset({"payments:read", "balance:read", "disputes:read", "members:read"}),
}  # fmt: skip

ROLE_SUMMARIES: dict[Role, str] = {
    Role.OWNER: "Everything, including the account itself and making other owners. "
    "An account always keeps at least one owner.",
    Role.ADMIN: "Everything but the account itself and the OWNER role: payments, refunds, "
    "payouts, disputes, risk rules, keys, webhooks and members up to ADMIN.",
    Role.DEVELOPER: "Integrates: payments, refunds, API keys and webhooks; reads balance, "
    "disputes, members and risk rules. No payouts, no member changes.",
    Role.MANAGER: "Runs the business: payments, refunds, payouts, disputes and risk rules; "
    "reads balance and members. No API keys, no webhooks.",
    Role.STAFF: "Reads payments, balance, disputes and members. Changes nothing.",
}

# A publishable key has no role; the proto marks the few methods it may call, and these
# are the only permissions such a method may ask for (defence in depth: a method that
# needs more cannot be opened to browsers by a proto flag alone).
PUBLISHABLE_PERMISSIONS = frozenset({"vault:tokenize", "payments:read", "payments:write"})


def permissions_of(role: Role) -> frozenset[str]:
    return ROLE_PERMISSIONS[role]


def may_grant(granter: Role | None, role: Role) -> bool:
    """Whether a caller with role `granter` may give `role` to a member or an API key.

    Nobody hands out rights they do not hold: the granted role's permissions must be a
    subset of the granter's. So only an OWNER makes owners, and a DEVELOPER (who may
    create keys) cannot mint an ADMIN key.
    """
    if granter is None:
        return False
    return ROLE_PERMISSIONS[role] <= ROLE_PERMISSIONS[granter]
