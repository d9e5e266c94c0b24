"""Security events: who did what, when, from where, and whether it worked.

The audit log is append-only (the PostgreSQL table refuses UPDATE, DELETE and TRUNCATE)
and written in the same transaction as the change it records, so a change without its
record cannot exist. Failures (a wrong password, a reused refresh token) are recorded in a
transaction of their own that commits before the error goes back to the caller.
Never a password, a token or a key in `details`: ids, prefixes and reasons only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from core.access.model import Principal


class Action(StrEnum):
    SIGNUP = "user.signup"
    LOGIN = "auth.login"
    LOCKOUT = "auth.lockout"
    REFRESH = "auth.refresh"
    REFRESH_TOKEN_REUSE = "auth.refresh_token_reuse"
    LOGOUT = "auth.logout"
    API_KEY_CREATE = "api_key.create"
    API_KEY_REVOKE = "api_key.revoke"
    API_KEY_ROLL = "api_key.roll"
    API_KEY_UPDATE = "api_key.update"
    # A key used from outside its allowed_ips (core/access/ip_allowlist.py).
    API_KEY_IP_DENIED = "api_key.ip_denied"
    MEMBER_INVITE = "member.invite"
    MEMBER_INVITE_REVOKE = "member.invite_revoke"
    MEMBER_INVITE_RESEND = "member.invite_resend"
    MEMBER_JOIN = "member.join"
    MEMBER_ROLE_CHANGE = "member.role_change"
    MEMBER_REMOVE = "member.remove"
    RATE_LIMITS_CHANGE = "account.rate_limits_change"
    RISK_RULES_CHANGE = "account.risk_rules_change"
    WEBHOOK_ENDPOINT_CREATE = "webhook_endpoint.create"
    WEBHOOK_ENDPOINT_UPDATE = "webhook_endpoint.update"
    WEBHOOK_ENDPOINT_DELETE = "webhook_endpoint.delete"
    WEBHOOK_SECRET_ROTATE = "webhook_endpoint.rotate_secret"
    WEBHOOK_DELIVERY_RETRY = "webhook_delivery.retry"
    WEBHOOK_DELIVERIES_REPLAY = "webhook_endpoint.replay"
    PROFILE_UPDATE = "account.profile_update"
    AUDIT_LOG_EXPORT = "audit_log.export"
    # For the vault's use: a card number handed out of the PCI zone.
    DETOKENIZE = "vault.detokenize"


class Outcome(StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"  # wrong credentials, an invalid token
    DENIED = "DENIED"  # a rule refused it (locked account, last owner)


ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class AuditEvent:
    occurred_at: datetime
    action: Action
    outcome: Outcome
    actor: str  # usr_..., key_... or "anonymous"
    origin: str  # client address
    merchant_id: str | None = None  # None for events outside an account (logins)
    target: str = ""  # the object acted on: usr_..., key_..., inv_..., or a login email
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditQuery:
    """Which of a merchant's audit events to read: every filter given must match."""

    merchant_id: str
    actor: str = ""
    action: str = ""
    occurred_from: datetime | None = None  # inclusive
    occurred_to: datetime | None = None  # inclusive
    before_id: int | None = None  # the cursor: only events older than this one


@dataclass(frozen=True)
class RecordedAuditEvent:
    """An event as stored: with the id the log gave it (increasing with time)."""

    id: int
    event: AuditEvent


def caller_event(
    caller: Principal,
    action: Action,
    at: datetime,
    *,
    target: str = "",
    outcome: Outcome = Outcome.SUCCESS,
    details: Mapping[str, str] | None = None,
) -> AuditEvent:
    """An event done by an authenticated caller within its merchant account."""
    return AuditEvent(
        occurred_at=at,
        action=action,
        outcome=outcome,
        actor=caller.actor,
        origin=caller.origin,
        merchant_id=caller.merchant_id,
        target=target,
        details=details or {},
    )
