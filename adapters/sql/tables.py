"""The schema as SQLAlchemy Core tables: what the repositories query.

The migrations in migrations/versions/ create the same schema by hand; a contract test
compares the migrated database with this metadata so the two cannot drift.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from core.access.audit import Outcome
from core.access.model import KeyType
from core.access.roles import Role
from core.idempotency.model import KEY_MAX_LENGTH
from core.idempotency.model import State as IdempotencyState
from core.payments.model import (
    IN_FLIGHT,
    AttemptStatus,
    CaptureMethod,
    EventKind,
    RefundReason,
    RefundStatus,
    Status,
)

# Constraint names are part of the schema: migrations refer to them by name.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _one_of(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _timestamp(name: str, *, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


merchants = Table(
    "merchants",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    _timestamp("created"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, ForeignKey("merchants.id"), nullable=False),
    Column("type", Text, nullable=False),
    Column("role", Text, nullable=True),
    Column("livemode", Boolean, nullable=False),
    Column("lookup", Text, nullable=False),
    Column("last4", Text, nullable=False),
    Column("secret_hash", LargeBinary, nullable=False),
    _timestamp("created"),
    _timestamp("revoked_at", nullable=True),
    _timestamp("last_used_at", nullable=True),
    Column("usage_count", BigInteger, nullable=False, server_default=text("0")),
    _timestamp("expires_at", nullable=True),  # 0002: the end of a rolled key's grace period
    CheckConstraint(_one_of("type", [t.value for t in KeyType]), name="type"),
    CheckConstraint(f"role IS NULL OR {_one_of('role', [r.value for r in Role])}", name="role"),
    CheckConstraint("type = 'SECRET' OR role IS NULL", name="publishable_has_no_role"),
    CheckConstraint("usage_count >= 0", name="usage_count"),
    Index("ix_api_keys_lookup", "lookup"),
    Index("ix_api_keys_merchant_id_id", "merchant_id", text("id DESC")),
)

payment_intents = Table(
    "payment_intents",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, ForeignKey("merchants.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("capture_method", Text, nullable=False),
    Column("client_secret", Text, nullable=False),
    Column("livemode", Boolean, nullable=False),
    _timestamp("created"),
    Column("payment_method_types", ARRAY(Text), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("receipt_email", Text, nullable=False, server_default=""),
    Column("return_url", Text, nullable=False, server_default=""),
    Column("amount_capturable", BigInteger, nullable=False, server_default=text("0")),
    Column("amount_received", BigInteger, nullable=False, server_default=text("0")),
    Column("amount_refunded", BigInteger, nullable=False, server_default=text("0")),
    Column("payment_method", Text, nullable=False, server_default=""),
    Column("last_payment_error", JSONB, nullable=True),
    Column("next_action", JSONB, nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _timestamp("canceled_at", nullable=True),
    Column("cancellation_reason", Text, nullable=False, server_default=""),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # 0003_payments: the attempt that holds the money, the tries used up, the capture deadline.
    Column("latest_attempt", Text, nullable=False, server_default=""),
    Column("failed_attempts", Integer, nullable=False, server_default=text("0")),
    _timestamp("capture_before", nullable=True),
    CheckConstraint(_one_of("status", [s.value for s in Status]), name="status"),
    CheckConstraint(
        _one_of("capture_method", [c.value for c in CaptureMethod]), name="capture_method"
    ),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("amount_received >= 0 AND amount_received <= amount", name="amount_received"),
    CheckConstraint(
        "amount_refunded >= 0 AND amount_refunded <= amount_received", name="amount_refunded"
    ),
    CheckConstraint("amount_capturable >= 0", name="amount_capturable"),
    CheckConstraint("attempts >= 0", name="attempts"),
    CheckConstraint("version >= 1", name="version"),
    CheckConstraint("failed_attempts >= 0 AND failed_attempts <= attempts", name="failed_attempts"),
    # What is held and what was taken never exceed the amount together.
    CheckConstraint("amount_capturable + amount_received <= amount", name="amount_held"),
    Index("ix_payment_intents_merchant_id_id", "merchant_id", text("id DESC")),
    Index("ix_payment_intents_merchant_id_status_id", "merchant_id", "status", text("id DESC")),
    # The expiry jobs' claims (partial: only the few rows they can ever pick).
    Index(
        "ix_payment_intents_unconfirmed_created",
        "created",
        postgresql_where=text("status IN ('REQUIRES_PAYMENT_METHOD', 'REQUIRES_CONFIRMATION')"),
    ),
    Index(
        "ix_payment_intents_capture_before",
        "capture_before",
        postgresql_where=text("status = 'REQUIRES_CAPTURE'"),
    ),
)

# Append-only: triggers installed by the migration refuse UPDATE, DELETE and TRUNCATE.
# 0005_watch: every INSERT also sends NOTIFY payment_intent_changed with each intent id
# (INTENT_CHANGED_CHANNEL), delivered at commit: adapters/sql/intent_changes.py listens.
payment_events = Table(
    "payment_events",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("payment_intent_id", Text, ForeignKey("payment_intents.id"), nullable=False),
    Column("merchant_id", Text, nullable=False),
    Column("from_status", Text, nullable=True),
    Column("to_status", Text, nullable=False),
    Column("actor", Text, nullable=False),
    _timestamp("occurred_at"),
    # 0003_payments: events that are not status changes (refunds), and what they are about.
    Column("kind", Text, nullable=False, server_default=EventKind.STATUS_CHANGED.value),
    Column("object_id", Text, nullable=False, server_default=""),
    Column("amount", BigInteger, nullable=True),
    CheckConstraint(_one_of("kind", [k.value for k in EventKind]), name="kind"),
    Index(
        "ix_payment_events_merchant_id_payment_intent_id_id",
        "merchant_id",
        "payment_intent_id",
        "id",
    ),
)

# One try at an acquirer. Card numbers and CVCs never come here: brand, last4, fingerprint.
payment_attempts = Table(
    "payment_attempts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, ForeignKey("merchants.id"), nullable=False),
    Column("payment_intent_id", Text, ForeignKey("payment_intents.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("payment_method_type", Text, nullable=False),
    Column("acquirer", Text, nullable=False),
    Column("payment_method", Text, nullable=False, server_default=""),
    Column("card_brand", Text, nullable=False, server_default=""),
    Column("card_last4", Text, nullable=False, server_default=""),
    Column("card_fingerprint", Text, nullable=False, server_default=""),
    Column("upi_vpa", Text, nullable=False, server_default=""),
    Column("acquirer_reference", Text, nullable=False, server_default=""),
    Column("acquirer_code", Text, nullable=False, server_default=""),
    Column("authorization_code", Text, nullable=False, server_default=""),
    Column("error", JSONB, nullable=True),
    Column("next_action", JSONB, nullable=True),
    Column("amount_authorized", BigInteger, nullable=False, server_default=text("0")),
    Column("amount_captured", BigInteger, nullable=False, server_default=text("0")),
    Column("amount_to_capture", BigInteger, nullable=False, server_default=text("0")),
    Column("capture_reference", Text, nullable=False, server_default=""),
    Column("captures", Integer, nullable=False, server_default=text("0")),
    _timestamp("authorized_at", nullable=True),
    _timestamp("created"),
    _timestamp("updated_at"),
    Column("version", Integer, nullable=False, server_default=text("1")),
    CheckConstraint(_one_of("status", [s.value for s in AttemptStatus]), name="status"),
    CheckConstraint(_one_of("payment_method_type", ["card", "upi"]), name="payment_method_type"),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(
        "amount_authorized >= 0 AND amount_authorized <= amount", name="amount_authorized"
    ),
    CheckConstraint(
        "amount_captured >= 0 AND amount_to_capture >= 0"
        " AND amount_captured + amount_to_capture <= amount_authorized",
        name="amount_captured",
    ),
    # Only the last four digits, ever.
    CheckConstraint("card_last4 ~ '^([0-9]{4})?$'", name="card_last4"),
    CheckConstraint("captures >= 0", name="captures"),
    CheckConstraint("version >= 1", name="version"),
    Index(
        "ix_payment_attempts_merchant_id_payment_intent_id_id",
        "merchant_id",
        "payment_intent_id",
        "id",
    ),
    # At most one attempt per intent that holds or may still hold money: a second
    # authorization of one intent cannot even be recorded.
    Index(
        "uq_payment_attempts_payment_intent_id_active",
        "payment_intent_id",
        unique=True,
        postgresql_where=text("status <> 'FAILED'"),
    ),
    # Recovery's claim.
    Index(
        "ix_payment_attempts_in_flight_updated_at",
        "updated_at",
        postgresql_where=text(_one_of("status", sorted(s.value for s in IN_FLIGHT))),
    ),
    # 0005_watch: the pollers' claim (claim_awaiting_action).
    Index(
        "ix_payment_attempts_awaiting_action",
        "payment_method_type",
        "updated_at",
        postgresql_where=text("status = 'REQUIRES_ACTION'"),
    ),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, ForeignKey("merchants.id"), nullable=False),
    Column("payment_intent_id", Text, ForeignKey("payment_intents.id"), nullable=False),
    Column("attempt_id", Text, ForeignKey("payment_attempts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("acquirer_reference", Text, nullable=False, server_default=""),
    Column("failure_code", Text, nullable=False, server_default=""),
    _timestamp("created"),
    _timestamp("updated_at"),
    Column("version", Integer, nullable=False, server_default=text("1")),
    CheckConstraint(_one_of("status", [s.value for s in RefundStatus]), name="status"),
    CheckConstraint(
        f"reason = '' OR {_one_of('reason', [r.value for r in RefundReason])}", name="reason"
    ),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("version >= 1", name="version"),
    Index("ix_refunds_merchant_id_id", "merchant_id", text("id DESC")),
    Index(
        "ix_refunds_merchant_id_payment_intent_id_id",
        "merchant_id",
        "payment_intent_id",
        text("id DESC"),
    ),
    Index(
        "ix_refunds_pending_updated_at", "updated_at", postgresql_where=text("status = 'PENDING'")
    ),
)

APPEND_ONLY_TABLES = ("payment_events",)

# Idempotency keys of mutating calls (docs/idempotency.md): a short-lived record per
# (merchant, key, method), written outside the call's own transaction. No foreign key to
# merchants: the claim is one index probe and one insert, and rows are reaped after 24 h.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("merchant_id", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("method", Text, primary_key=True),
    # HMAC-SHA-256 of the canonical request; the request itself is never stored.
    Column("request_hash", LargeBinary, nullable=False),
    Column("status", Text, nullable=False),
    # The serialized response message, or the error's google.rpc.Code and serialized
    # google.rpc.Status; all NULL while IN_FLIGHT.
    Column("response", LargeBinary, nullable=True),
    Column("error_code", Integer, nullable=True),
    Column("error_status", LargeBinary, nullable=True),
    _timestamp("created_at"),
    _timestamp("completed_at", nullable=True),
    _timestamp("locked_until"),
    CheckConstraint(_one_of("status", [s.value for s in IdempotencyState]), name="status"),
    CheckConstraint(f"char_length(key) BETWEEN 1 AND {KEY_MAX_LENGTH}", name="key_length"),
    CheckConstraint("octet_length(request_hash) = 32", name="request_hash_length"),
    CheckConstraint("error_code BETWEEN 1 AND 16", name="error_code"),
    CheckConstraint(
        "(status = 'IN_FLIGHT' AND completed_at IS NULL AND response IS NULL"
        " AND error_code IS NULL AND error_status IS NULL)"
        " OR (status = 'COMPLETED' AND completed_at IS NOT NULL"
        " AND (response IS NULL) = (error_code IS NOT NULL)"
        " AND (error_code IS NULL) = (error_status IS NULL))",
        name="outcome",
    ),
    # The reaper's scan, oldest first.
    Index("ix_idempotency_keys_created_at", "created_at"),
)


# --- access (0002): users, members, invitations, sessions, audit, rate limits ----------

_ROLE_VALUES = [r.value for r in Role]

users = Table(
    "users",
    metadata,
    Column("id", Text, primary_key=True),
    Column("email", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    _timestamp("created"),
    Column("failed_logins", Integer, nullable=False, server_default=text("0")),
    _timestamp("locked_until", nullable=True),
    _timestamp("last_login_at", nullable=True),
    CheckConstraint("email = lower(email)", name="email_normalized"),
    # A plaintext password cannot be stored by mistake: only an argon2id PHC string fits.
    CheckConstraint("password_hash LIKE '$argon2id$%'", name="password_hash_argon2id"),
    CheckConstraint("failed_logins >= 0", name="failed_logins"),
    Index("uq_users_email", "email", unique=True),
)

memberships = Table(
    "memberships",
    metadata,
    Column("merchant_id", Text, ForeignKey("merchants.id"), primary_key=True),
    Column("user_id", Text, ForeignKey("users.id"), primary_key=True),
    Column("role", Text, nullable=False),
    _timestamp("created"),
    CheckConstraint(_one_of("role", _ROLE_VALUES), name="role"),
    Index("ix_memberships_user_id", "user_id"),
)

invitations = Table(
    "invitations",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, ForeignKey("merchants.id"), nullable=False),
    Column("email", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("token_hash", LargeBinary, nullable=False),
    Column("invited_by", Text, nullable=False),
    _timestamp("created"),
    _timestamp("expires_at"),
    _timestamp("accepted_at", nullable=True),
    Column("accepted_by", Text, ForeignKey("users.id"), nullable=True),
    CheckConstraint(_one_of("role", _ROLE_VALUES), name="role"),
    CheckConstraint("email = lower(email)", name="email_normalized"),
    CheckConstraint("octet_length(token_hash) = 32", name="token_hash_sha256"),
    CheckConstraint("(accepted_at IS NULL) = (accepted_by IS NULL)", name="accepted"),
    Index("uq_invitations_token_hash", "token_hash", unique=True),
    Index("ix_invitations_merchant_id_id", "merchant_id", text("id DESC")),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", Text, ForeignKey("users.id"), nullable=False),
    _timestamp("created"),
    _timestamp("expires_at"),
    _timestamp("revoked_at", nullable=True),
    Column("revoke_reason", Text, nullable=False, server_default=""),
    Index("ix_auth_sessions_user_id", "user_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Text, primary_key=True),
    Column("session_id", Text, ForeignKey("auth_sessions.id"), nullable=False),
    Column("token_hash", LargeBinary, nullable=False),
    _timestamp("issued_at"),
    _timestamp("expires_at"),
    _timestamp("used_at", nullable=True),
    CheckConstraint("octet_length(token_hash) = 32", name="token_hash_sha256"),
    Index("uq_refresh_tokens_token_hash", "token_hash", unique=True),
    Index("ix_refresh_tokens_session_id", "session_id"),
)

# Append-only, like payment_events: the migration installs the same refusing triggers.
# No foreign keys: the record of an event outlives whatever it was about.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    _timestamp("occurred_at"),
    Column("action", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("origin", Text, nullable=False, server_default=""),
    Column("merchant_id", Text, nullable=True),
    Column("target", Text, nullable=False, server_default=""),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    CheckConstraint(_one_of("outcome", [o.value for o in Outcome]), name="outcome"),
    Index("ix_audit_events_merchant_id_id", "merchant_id", text("id DESC")),
    Index("ix_audit_events_actor_id", "actor", text("id DESC")),
    Index("ix_audit_events_target_id", "target", text("id DESC")),
)

rate_limit_overrides = Table(
    "rate_limit_overrides",
    metadata,
    Column("merchant_id", Text, ForeignKey("merchants.id"), primary_key=True),
    Column("route_class", Text, primary_key=True),
    Column("limits", ARRAY(Text), nullable=False),
    _timestamp("updated_at"),
    CheckConstraint("cardinality(limits) BETWEEN 1 AND 4", name="limits"),
)

APPEND_ONLY_TABLES = ("payment_events", "audit_events")

# The NOTIFY channel of payment_events' insert trigger (0005_watch); the payload is the
# payment intent's id.
INTENT_CHANGED_CHANNEL = "payment_intent_changed"
