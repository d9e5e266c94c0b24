"""The schema as SQLAlchemy Core tables: what the repositories query.

One cohesive thing, kept in one module (about 730 lines): one MetaData, every table of
the gateway's database (access and ledger tables in their own sections below).

The migrations in migrations/versions/ create the same schema by hand; a contract test
compares the migrated database with this metadata so the two cannot drift.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from adapters.sql.schema import NAMING_CONVENTION, one_of, timestamp
from core.access.audit import Outcome
from core.access.model import KeyType
from core.access.roles import Role
from core.events.model import DeliveryStatus, SignatureScheme
from core.idempotency.model import KEY_MAX_LENGTH
from core.idempotency.model import State as IdempotencyState
from core.ledger.model import BalanceTransactionType, EntryKind, PayoutSchedule
from core.ledger.records import (
    AutomaticPayout,
    DisputeStatus,
    PayoutMethod,
    PayoutStatus,
    SettlementStatus,
)
from core.payments.model import (
    IN_FLIGHT,
    AttemptStatus,
    CaptureMethod,
    EventKind,
    RefundReason,
    RefundStatus,
    Status,
)

metadata = MetaData(naming_convention=NAMING_CONVENTION)


merchants = Table(
    "merchants",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    timestamp("created"),
)

# 0011: the business profile and payment settings (core/account/profile.py); the business
# name is merchants.name. A merchant without a row has the defaults.
merchant_profiles = Table(
    "merchant_profiles",
    metadata,
    Column("merchant_id", Text, ForeignKey("merchants.id"), primary_key=True),
    Column("statement_descriptor", Text, nullable=False, server_default=""),
    Column("support_email", Text, nullable=False, server_default=""),
    Column("support_url", Text, nullable=False, server_default=""),
    Column("country", Text, nullable=False, server_default=""),
    Column("accepted_currencies", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("default_capture_method", Text, nullable=False, server_default="AUTOMATIC"),
    Column("branding_color", Text, nullable=False, server_default=""),
    Column("logo_url", Text, nullable=False, server_default=""),
    timestamp("updated"),
    CheckConstraint(
        one_of("default_capture_method", [c.value for c in CaptureMethod]),
        name="default_capture_method",
    ),
    CheckConstraint("country = '' OR country ~ '^[A-Z]{2}$'", name="country"),
    CheckConstraint(
        "branding_color = '' OR branding_color ~ '^#[0-9a-f]{6}$'", name="branding_color"
    ),
)

# 0019_api_key_changes: every change but the usage counts (usage_count, last_used_at) and
# every deletion sends NOTIFY api_key_changed with the key's lookup (API_KEY_CHANGED_CHANNEL),
# delivered at commit: adapters/sql/key_changes.py listens.
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
    timestamp("created"),
    timestamp("revoked_at", nullable=True),
    timestamp("last_used_at", nullable=True),
    Column("usage_count", BigInteger, nullable=False, server_default=text("0")),
    timestamp("expires_at", nullable=True),  # 0002: the end of a rolled key's grace period
    # 0008: the whole key, publishable keys only (public by design: the hosted checkout
    # page carries it); secret keys are a digest only.
    Column("publishable_key", Text, nullable=True),
    # 0012: networks the key may be used from (normalized CIDRs); empty: anywhere.
    Column("allowed_ips", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    CheckConstraint(one_of("type", [t.value for t in KeyType]), name="type"),
    CheckConstraint(f"role IS NULL OR {one_of('role', [r.value for r in Role])}", name="role"),
    CheckConstraint("type = 'SECRET' OR role IS NULL", name="publishable_has_no_role"),
    CheckConstraint("usage_count >= 0", name="usage_count"),
    CheckConstraint(
        "type = 'PUBLISHABLE' OR publishable_key IS NULL", name="only_publishable_in_clear"
    ),
    CheckConstraint(
        "type = 'SECRET' OR cardinality(allowed_ips) = 0", name="publishable_has_no_allowed_ips"
    ),
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
    timestamp("created"),
    Column("payment_method_types", ARRAY(Text), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("receipt_email", Text, nullable=False, server_default=""),
    Column("return_url", Text, nullable=False, server_default=""),
    Column("success_url", Text, nullable=False, server_default=""),  # 0008
    Column("cancel_url", Text, nullable=False, server_default=""),  # 0008
    Column("amount_capturable", BigInteger, nullable=False, server_default=text("0")),
    Column("amount_received", BigInteger, nullable=False, server_default=text("0")),
    Column("amount_refunded", BigInteger, nullable=False, server_default=text("0")),
    Column("payment_method", Text, nullable=False, server_default=""),
    Column("last_payment_error", JSONB, nullable=True),
    Column("next_action", JSONB, nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    timestamp("canceled_at", nullable=True),
    Column("cancellation_reason", Text, nullable=False, server_default=""),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # 0003_payments: the attempt that holds the money, the tries used up, the capture deadline.
    Column("latest_attempt", Text, nullable=False, server_default=""),
    Column("failed_attempts", Integer, nullable=False, server_default=text("0")),
    Column("risk", JSONB, nullable=True),  # 0009: the latest attempt's risk assessment
    timestamp("capture_before", nullable=True),
    # 0017: the latest attempt's method as the API shows it (type, card brand and last4,
    # UPI address, wallet, bank); NULL before the first attempt.
    Column("payment_method_details", JSONB, nullable=True),
    CheckConstraint(one_of("status", [s.value for s in Status]), name="status"),
    CheckConstraint(
        one_of("capture_method", [c.value for c in CaptureMethod]), name="capture_method"
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
# 0006_watch: every INSERT also sends NOTIFY payment_intent_changed with each intent id
# (INTENT_CHANGED_CHANNEL), delivered at commit: adapters/sql/intent_changes.py listens.
# Since 0021_watched_intents only for the intents in watched_intents.
payment_events = Table(
    "payment_events",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("payment_intent_id", Text, ForeignKey("payment_intents.id"), nullable=False),
    Column("merchant_id", Text, nullable=False),
    Column("from_status", Text, nullable=True),
    Column("to_status", Text, nullable=False),
    Column("actor", Text, nullable=False),
    timestamp("occurred_at"),
    # 0003_payments: events that are not status changes (refunds), and what they are about.
    Column("kind", Text, nullable=False, server_default=EventKind.STATUS_CHANGED.value),
    Column("object_id", Text, nullable=False, server_default=""),
    Column("amount", BigInteger, nullable=True),
    CheckConstraint(one_of("kind", [k.value for k in EventKind]), name="kind"),
    Index(
        "ix_payment_events_merchant_id_payment_intent_id_id",
        "merchant_id",
        "payment_intent_id",
        "id",
    ),
)

# 0021_watched_intents: the intents some process watches (WatchPaymentIntent); the
# trigger of payment_events notifies only these. UNLOGGED: losing it on a crash is fine,
# since a crash ends every LISTEN connection, so every watch, too. `watcher` is the
# backend pid of the watching process's LISTEN connection (adapters/sql/intent_changes.py).
watched_intents = Table(
    "watched_intents",
    metadata,
    Column("intent_id", Text, primary_key=True),
    Column("watcher", Integer, primary_key=True),
    timestamp("since"),
    prefixes=["UNLOGGED"],
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
    # 0016: the error's decline code (else its code), for analytics' decline reasons.
    Column("decline_code", Text, nullable=False, server_default=""),
    Column("next_action", JSONB, nullable=True),
    Column("amount_authorized", BigInteger, nullable=False, server_default=text("0")),
    Column("amount_captured", BigInteger, nullable=False, server_default=text("0")),
    Column("amount_to_capture", BigInteger, nullable=False, server_default=text("0")),
    Column("capture_reference", Text, nullable=False, server_default=""),
    Column("captures", Integer, nullable=False, server_default=text("0")),
    Column("risk", JSONB, nullable=True),  # 0009: score, decision and reasons
    # 0010: the routing rule that chose the acquirers, and every try along the route.
    Column("route", Text, nullable=False, server_default=""),
    Column("tries", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    timestamp("authorized_at", nullable=True),
    timestamp("created"),
    timestamp("updated_at"),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("livemode", Boolean, nullable=False, server_default=text("false")),  # 0016
    # 0017: the wallet or the bank the payer chose; NULL for every other method.
    Column("wallet_provider", Text, nullable=True),
    Column("netbanking_bank", Text, nullable=True),
    CheckConstraint(one_of("status", [s.value for s in AttemptStatus]), name="status"),
    CheckConstraint(
        "wallet_provider IS NULL OR payment_method_type = 'wallet'", name="wallet_provider"
    ),
    CheckConstraint(
        "netbanking_bank IS NULL OR payment_method_type = 'netbanking'", name="netbanking_bank"
    ),
    # 0014: wallets and net banking.
    CheckConstraint(
        one_of("payment_method_type", ["card", "upi", "wallet", "netbanking"]),
        name="payment_method_type",
    ),
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
        postgresql_where=text(one_of("status", sorted(s.value for s in IN_FLIGHT))),
    ),
    # 0011: analytics counts a merchant's attempts in a currency by time from this index.
    Index(
        "ix_payment_attempts_analytics",
        "merchant_id",
        "livemode",
        "currency",
        "created",
        postgresql_include=["status", "amount_authorized"],
    ),
    # 0011: the decline reasons read the failed attempts only; 0016: index-only, by mode.
    Index(
        "ix_payment_attempts_failed",
        "merchant_id",
        "livemode",
        "currency",
        "created",
        postgresql_include=["decline_code"],
        postgresql_where=text("status = 'FAILED'"),
    ),
    # 0006_watch: the pollers' claim (claim_awaiting_action).
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
    timestamp("created"),
    timestamp("updated_at"),
    Column("version", Integer, nullable=False, server_default=text("1")),
    # 0016: the intent's mode.
    Column("livemode", Boolean, nullable=False, server_default=text("false")),
    CheckConstraint(one_of("status", [s.value for s in RefundStatus]), name="status"),
    CheckConstraint(
        f"reason = '' OR {one_of('reason', [r.value for r in RefundReason])}", name="reason"
    ),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("version >= 1", name="version"),
    Index("ix_refunds_merchant_id_livemode_id", "merchant_id", "livemode", text("id DESC")),
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
    timestamp("created_at"),
    timestamp("completed_at", nullable=True),
    timestamp("locked_until"),
    CheckConstraint(one_of("status", [s.value for s in IdempotencyState]), name="status"),
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
    timestamp("created"),
    Column("failed_logins", Integer, nullable=False, server_default=text("0")),
    timestamp("locked_until", nullable=True),
    timestamp("last_login_at", nullable=True),
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
    timestamp("created"),
    CheckConstraint(one_of("role", _ROLE_VALUES), name="role"),
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
    timestamp("created"),
    timestamp("expires_at"),
    timestamp("accepted_at", nullable=True),
    Column("accepted_by", Text, ForeignKey("users.id"), nullable=True),
    # 0015: a revoked invitation's link is refused; an accepted one cannot be revoked.
    timestamp("revoked_at", nullable=True),
    CheckConstraint(one_of("role", _ROLE_VALUES), name="role"),
    CheckConstraint("email = lower(email)", name="email_normalized"),
    CheckConstraint("octet_length(token_hash) = 32", name="token_hash_sha256"),
    CheckConstraint("(accepted_at IS NULL) = (accepted_by IS NULL)", name="accepted"),
    CheckConstraint("accepted_at IS NULL OR revoked_at IS NULL", name="accepted_or_revoked"),
    Index("uq_invitations_token_hash", "token_hash", unique=True),
    Index("ix_invitations_merchant_id_id", "merchant_id", text("id DESC")),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", Text, ForeignKey("users.id"), nullable=False),
    timestamp("created"),
    timestamp("expires_at"),
    timestamp("revoked_at", nullable=True),
    Column("revoke_reason", Text, nullable=False, server_default=""),
    Index("ix_auth_sessions_user_id", "user_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Text, primary_key=True),
    Column("session_id", Text, ForeignKey("auth_sessions.id"), nullable=False),
    Column("token_hash", LargeBinary, nullable=False),
    timestamp("issued_at"),
    timestamp("expires_at"),
    timestamp("used_at", nullable=True),
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
    timestamp("occurred_at"),
    Column("action", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("origin", Text, nullable=False, server_default=""),
    Column("merchant_id", Text, nullable=True),
    Column("target", Text, nullable=False, server_default=""),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    CheckConstraint(one_of("outcome", [o.value for o in Outcome]), name="outcome"),
    Index("ix_audit_events_merchant_id_id", "merchant_id", text("id DESC")),
    Index("ix_audit_events_actor_id", "actor", text("id DESC")),
    Index("ix_audit_events_target_id", "target", text("id DESC")),
    Index("ix_audit_events_merchant_id_action_id", "merchant_id", "action", text("id DESC")),
)

rate_limit_overrides = Table(
    "rate_limit_overrides",
    metadata,
    Column("merchant_id", Text, ForeignKey("merchants.id"), primary_key=True),
    Column("route_class", Text, primary_key=True),
    Column("limits", ARRAY(Text), nullable=False),
    timestamp("updated_at"),
    CheckConstraint("cardinality(limits) BETWEEN 1 AND 4", name="limits"),
)

# A merchant's own risk settings over the rules file (core/risk/overrides.py). 0009.
risk_overrides = Table(
    "risk_overrides",
    metadata,
    Column("merchant_id", Text, ForeignKey("merchants.id"), primary_key=True),
    Column("review_threshold", Integer, nullable=True),
    Column("block_threshold", Integer, nullable=True),
    Column("disabled_rules", ARRAY(Text), nullable=False, server_default="{}"),
    Column("scores", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    timestamp("updated_at"),
    CheckConstraint("review_threshold BETWEEN 1 AND 100", name="review_threshold"),
    CheckConstraint("block_threshold BETWEEN 1 AND 100", name="block_threshold"),
)


# --- ledger (docs/ledger.md, "Persistence") ---------------------------------------------
#
# No foreign key from the ledger to merchants: a foreign key check takes a KEY SHARE lock
# on the merchant's row, and every capture of a busy merchant would churn that one row's
# multixact: the hot row the design avoids.

_CURRENCY = "~ '^[A-Z]{3}$'"
# pg_current_xact_id() is xid8; as bigint (64 bits, epoch included) it compares like one.
CURRENT_XID = text("(pg_current_xact_id()::text)::bigint")
ACCOUNT = Text(collation="C")  # byte order: a merchant's accounts are one prefix range

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("payment_intent_id", Text, nullable=False, server_default=""),
    Column("reference", Text, nullable=False, server_default=""),
    Column("presentment_amount", BigInteger, nullable=True),
    Column("presentment_currency", Text, nullable=True),
    Column("fx_base", Text, nullable=True),
    Column("fx_quote", Text, nullable=True),
    Column("fx_rate", Numeric, nullable=True),
    timestamp("fx_as_of", nullable=True),
    Column("fx_source", Text, nullable=True),
    timestamp("available_on", nullable=True),
    Column("related_entry_id", Text, nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    timestamp("created"),
    # The balance transaction the entry derives to (core.ledger.projections); NULL type:
    # none (RELEASE, REFUND_SUCCEEDED, DISPUTE_LOST, FEE_SWEEP).
    Column("bt_type", Text, nullable=True),
    Column("bt_amount", BigInteger, nullable=True),
    Column("bt_fee", BigInteger, nullable=True),
    Column("bt_net", BigInteger, nullable=True),
    Column("bt_currency", Text, nullable=True),
    timestamp("bt_available_on", nullable=True),
    # 0016: the book (test or live) every posting of the entry is in.
    Column("livemode", Boolean, nullable=False, server_default=text("false")),
    CheckConstraint(one_of("kind", [k.value for k in EntryKind]), name="kind"),
    CheckConstraint(
        f"bt_type IS NULL OR {one_of('bt_type', [t.value for t in BalanceTransactionType])}",
        name="bt_type",
    ),
    CheckConstraint(
        "(bt_type IS NULL) = (bt_amount IS NULL)"
        " AND (bt_type IS NULL) = (bt_fee IS NULL)"
        " AND (bt_type IS NULL) = (bt_net IS NULL)"
        " AND (bt_type IS NULL) = (bt_currency IS NULL)"
        " AND (bt_type IS NULL) = (bt_available_on IS NULL)",
        name="bt_complete",
    ),
    CheckConstraint("bt_amount - bt_fee = bt_net", name="bt_net"),
    CheckConstraint(f"presentment_currency {_CURRENCY}", name="presentment_currency"),
    CheckConstraint("(fx_rate IS NULL) = (fx_base IS NULL) AND fx_rate > 0", name="fx_rate"),
    Index(
        "ix_ledger_entries_merchant_id_livemode_bt",
        "merchant_id",
        "livemode",
        text("id DESC"),
        postgresql_where=text("bt_type IS NOT NULL"),
    ),
    Index(
        "ix_ledger_entries_merchant_id_payment_intent_id",
        "merchant_id",
        "payment_intent_id",
        postgresql_where=text("payment_intent_id <> ''"),
    ),
    Index("ix_ledger_entries_merchant_id_source", "merchant_id", "source"),
    Index(
        "ix_ledger_entries_merchant_id_reference",
        "merchant_id",
        "reference",
        postgresql_where=text("reference <> ''"),
    ),
    Index("ix_ledger_entries_created", "created"),
    # 0011: analytics sums a merchant's balance transactions in a currency by time from
    # this index alone (an index-only scan: docs/dashboard.md).
    Index(
        "ix_ledger_entries_analytics",
        "merchant_id",
        "livemode",
        "bt_currency",
        "created",
        postgresql_include=["bt_type", "bt_amount", "bt_fee", "bt_net"],
        postgresql_where=text("bt_type IS NOT NULL"),
    ),
)

# Postings: a balance is the sum of an account's postings, read as its latest checkpoint
# plus the postings with xid >= the checkpoint's watermark (the (account, xid) index).
ledger_postings = Table(
    "ledger_postings",
    metadata,
    Column("entry_id", Text, ForeignKey("ledger_entries.id"), nullable=False),
    Column("position", SmallInteger, nullable=False),
    Column("account", ACCOUNT, nullable=False),
    Column("merchant_id", Text, nullable=False),  # the entry's, also on platform postings
    Column("currency", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("xid", BigInteger, nullable=False, server_default=CURRENT_XID),
    timestamp("created"),
    PrimaryKeyConstraint("entry_id", "account", name="pk_ledger_postings"),
    CheckConstraint("amount <> 0", name="amount_not_zero"),
    CheckConstraint("right(account, 4) = ':' || currency", name="account_currency"),
    # 0016: a live account's code is the test one behind 'live:' (core.ledger.accounts).
    CheckConstraint(
        "starts_with(account, 'platform:')"
        " OR starts_with(account, 'merchant:' || merchant_id || ':')"
        " OR starts_with(account, 'live:platform:')"
        " OR starts_with(account, 'live:merchant:' || merchant_id || ':')",
        name="account_owner",
    ),
    Index("ix_ledger_postings_account_xid", "account", "xid", postgresql_include=["amount"]),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("account", ACCOUNT, nullable=False),
    Column("below_xid", BigInteger, nullable=False),  # covers every posting with xid < it
    Column("balance", BigInteger, nullable=False),
    timestamp("taken_at"),
    PrimaryKeyConstraint("account", "below_xid", name="pk_ledger_checkpoints"),
)

# The queue of balance transactions no settlement holds yet: one row per balance
# transaction, deleted by the settlement that takes it.
ledger_unsettled = Table(
    "ledger_unsettled",
    metadata,
    Column("transaction_id", Text, ForeignKey("ledger_entries.id"), primary_key=True),
    Column("merchant_id", Text, nullable=False),
    Column("currency", Text, nullable=False),
    timestamp("available_on"),
    Column("livemode", Boolean, nullable=False, server_default=text("false")),
    Index(
        "ix_ledger_unsettled_merchant_id_currency_livemode_available_on",
        "merchant_id",
        "currency",
        "livemode",
        "available_on",
    ),
    Index("ix_ledger_unsettled_available_on", "available_on"),
)

fx_rates = Table(
    "fx_rates",
    metadata,
    Column("base", Text, nullable=False),
    Column("quote", Text, nullable=False),
    timestamp("as_of"),
    Column("rate", Numeric, nullable=False),
    Column("source", Text, nullable=False, server_default=""),
    Column("loaded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("base", "quote", "as_of", name="pk_fx_rates"),
    CheckConstraint("rate > 0", name="rate_positive"),
    CheckConstraint(f"base {_CURRENCY} AND quote {_CURRENCY} AND base <> quote", name="pair"),
)

merchant_terms = Table(
    "merchant_terms",
    metadata,
    Column("merchant_id", Text, ForeignKey("merchants.id"), primary_key=True),
    Column("settlement_currency", Text, nullable=False),
    Column("settlement_delay_days", Integer, nullable=False),
    Column("payout_schedule", Text, nullable=False),
    Column("payout_minimum", BigInteger, nullable=False),
    Column("pricing", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(f"settlement_currency {_CURRENCY}", name="settlement_currency"),
    CheckConstraint("settlement_delay_days >= 0", name="settlement_delay_days"),
    CheckConstraint(
        one_of("payout_schedule", [p.value for p in PayoutSchedule]), name="payout_schedule"
    ),
    CheckConstraint("payout_minimum >= 1", name="payout_minimum"),
)

settlements = Table(
    "settlements",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, ForeignKey("merchants.id"), nullable=False),
    Column("currency", Text, nullable=False),
    Column("day", Date, nullable=False),
    timestamp("cutoff"),
    Column("status", Text, nullable=False),
    timestamp("created"),
    timestamp("completed_at", nullable=True),
    Column("transaction_count", Integer, nullable=False, server_default=text("0")),
    Column("amount", BigInteger, nullable=False, server_default=text("0")),
    Column("fee", BigInteger, nullable=False, server_default=text("0")),
    Column("net", BigInteger, nullable=False, server_default=text("0")),
    Column("released", BigInteger, nullable=False, server_default=text("0")),
    Column("fees_swept", BigInteger, nullable=False, server_default=text("0")),
    Column("automatic_payout", Text, nullable=False),
    Column("payout_id", Text, nullable=False, server_default=""),
    Column("livemode", Boolean, nullable=False, server_default=text("false")),
    UniqueConstraint("merchant_id", "currency", "day", "livemode"),
    CheckConstraint(one_of("status", [s.value for s in SettlementStatus]), name="status"),
    CheckConstraint(
        one_of("automatic_payout", [a.value for a in AutomaticPayout]), name="automatic_payout"
    ),
    CheckConstraint("amount - fee = net", name="net"),
    Index("ix_settlements_merchant_id_livemode_id", "merchant_id", "livemode", text("id DESC")),
    Index("ix_settlements_pending", "day", "id", postgresql_where=text("status = 'PENDING'")),
    Index("ix_settlements_payout_due", "id", postgresql_where=text("automatic_payout = 'DUE'")),
)

# Append-only: a balance transaction is in at most one settlement (the primary key).
settlement_lines = Table(
    "settlement_lines",
    metadata,
    Column("transaction_id", Text, ForeignKey("ledger_entries.id"), primary_key=True),
    Column("settlement_id", Text, ForeignKey("settlements.id"), nullable=False),
    Column("merchant_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("net", BigInteger, nullable=False),
    Column("exchange_rate", Numeric, nullable=True),
    timestamp("created"),
    timestamp("available_on"),
    Column("description", Text, nullable=False, server_default=""),
    Index("ix_settlement_lines_settlement_id_transaction_id", "settlement_id", "transaction_id"),
)

payouts = Table(
    "payouts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, ForeignKey("merchants.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("method", Text, nullable=False),
    timestamp("created"),
    timestamp("arrival_date"),
    Column("balance_transaction_id", Text, ForeignKey("ledger_entries.id"), nullable=False),
    Column("settlement_id", Text, nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("livemode", Boolean, nullable=False, server_default=text("false")),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(one_of("status", [s.value for s in PayoutStatus]), name="status"),
    CheckConstraint(one_of("method", [m.value for m in PayoutMethod]), name="method"),
    Index("ix_payouts_merchant_id_livemode_id", "merchant_id", "livemode", text("id DESC")),
    Index("ix_payouts_in_transit", "arrival_date", postgresql_where=text("status = 'IN_TRANSIT'")),
)

disputes = Table(
    "disputes",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, ForeignKey("merchants.id"), nullable=False),
    Column("payment_intent_id", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", Text, nullable=False),
    timestamp("created"),
    timestamp("evidence_due_by"),
    timestamp("decide_at"),
    Column("acquirer_reference", Text, nullable=False),
    Column("capture_reference", Text, nullable=False, server_default=""),
    timestamp("evidence_submitted_at", nullable=True),
    timestamp("closed_at", nullable=True),
    Column("balance_transactions", ARRAY(Text), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("livemode", Boolean, nullable=False, server_default=text("false")),
    UniqueConstraint("acquirer_reference"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(one_of("status", [s.value for s in DisputeStatus]), name="status"),
    Index("ix_disputes_merchant_id_livemode_id", "merchant_id", "livemode", text("id DESC")),
    Index(
        "ix_disputes_open_decide_at",
        "decide_at",
        postgresql_where=text("status IN ('NEEDS_RESPONSE', 'UNDER_REVIEW')"),
    ),
)

# Append-only: every submission is kept; the dispute shows the latest.
dispute_evidence = Table(
    "dispute_evidence",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("dispute_id", Text, ForeignKey("disputes.id"), nullable=False),
    Column("merchant_id", Text, nullable=False),
    timestamp("submitted_at"),
    Column("evidence", JSONB, nullable=False),
    Index("ix_dispute_evidence_dispute_id_id", "dispute_id", "id"),
)


# --- events and webhooks (docs/events.md) -----------------------------------------------

# The outbox: one row per event, written in the transaction of the change it tells.
events = Table(
    "events",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, ForeignKey("merchants.id"), nullable=False),
    Column("type", Text, nullable=False),
    timestamp("created"),
    Column("livemode", Boolean, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("request_id", Text, nullable=False, server_default=""),
    Column("idempotency_key", Text, nullable=False, server_default=""),
    # Set once appended to the internal Redis Stream (only when REDIS_URL is set).
    timestamp("streamed_at", nullable=True),
    # 0012: set once the worker has queued the emails the event calls for (or none).
    timestamp("notified_at", nullable=True),
    Index("ix_events_merchant_id_livemode_id", "merchant_id", "livemode", text("id DESC")),
    Index("ix_events_merchant_id_livemode_created", "merchant_id", "livemode", "created"),
    Index("ix_events_created", "created"),
    Index("ix_events_unstreamed", "created", postgresql_where=text("streamed_at IS NULL")),
    Index("ix_events_unnotified", "created", postgresql_where=text("notified_at IS NULL")),
)

# 0012: receipts and alerts on their way (core/notifications). One row per (event, kind):
# the unique constraint is what keeps a receipt to one per event.
emails = Table(
    "emails",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, ForeignKey("merchants.id"), nullable=False),
    Column("event_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("text_body", Text, nullable=False),
    Column("html_body", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    timestamp("next_attempt_at"),
    timestamp("created"),
    timestamp("sent_at", nullable=True),
    Column("last_error", Text, nullable=False, server_default=""),
    CheckConstraint("status IN ('PENDING', 'SENT', 'FAILED')", name="status"),
    UniqueConstraint("event_id", "kind"),
    Index("ix_emails_due", "next_attempt_at", postgresql_where=text("status = 'PENDING'")),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, ForeignKey("merchants.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("enabled_events", ARRAY(Text), nullable=False),
    Column("livemode", Boolean, nullable=False),
    # AES-256-GCM sealed (adapters/crypto/secret_box.py): the secret signs, so it is kept,
    # but never in clear.
    Column("secret", LargeBinary, nullable=False),
    Column("previous_secret", LargeBinary, nullable=True),
    timestamp("previous_secret_expires_at", nullable=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    Column("disabled_reason", Text, nullable=False, server_default=""),
    timestamp("failing_since", nullable=True),
    timestamp("created"),
    Column("version", Integer, nullable=False, server_default=text("1")),
    # core.events.model.SignatureScheme: how deliveries are signed and shaped.
    Column("signature_scheme", Text, nullable=False, server_default="STANDARD_WEBHOOKS"),
    CheckConstraint("cardinality(enabled_events) >= 1", name="enabled_events"),
    CheckConstraint(
        one_of("signature_scheme", [s.value for s in SignatureScheme]), name="signature_scheme"
    ),
    Index(
        "ix_webhook_endpoints_merchant_id_livemode_id", "merchant_id", "livemode", text("id DESC")
    ),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("event_id", Text, ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column(
        "endpoint_id", Text, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    ),
    Column("merchant_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    timestamp("created"),
    timestamp("next_attempt_at", nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    timestamp("lease_until", nullable=True),
    Column("lease_token", Text, nullable=False, server_default=""),
    Column("last_status_code", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=False, server_default=""),
    CheckConstraint(one_of("status", [s.value for s in DeliveryStatus]), name="status"),
    # The workers' claim: due PENDING deliveries, oldest first.
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status = 'PENDING'"),
    ),
    # The per-endpoint cap counts the leased ones.
    Index(
        "ix_webhook_deliveries_leased",
        "endpoint_id",
        "lease_until",
        postgresql_where=text("status = 'PENDING' AND lease_until IS NOT NULL"),
    ),
    Index("ix_webhook_deliveries_event_id", "event_id"),
    Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", text("id DESC")),
)

# The delivery log: one row per HTTP request (headers without signatures, first KiB).
webhook_delivery_attempts = Table(
    "webhook_delivery_attempts",
    metadata,
    Column("id", Text, primary_key=True),
    Column(
        "delivery_id",
        Text,
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", Text, nullable=False),
    Column("endpoint_id", Text, nullable=False),
    Column("merchant_id", Text, nullable=False),
    timestamp("attempted_at"),
    Column("request_headers", JSONB, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response_body", Text, nullable=False, server_default=""),
    Column("latency_ms", Integer, nullable=False),
    Column("error", Text, nullable=False, server_default=""),
    Index("ix_webhook_delivery_attempts_delivery_id_id", "delivery_id", "id"),
)


def _analytics_key() -> list[Column[object]]:
    return [
        Column("merchant_id", Text, nullable=False),
        Column("livemode", Boolean, nullable=False),
        Column("currency", Text, nullable=False),
        timestamp("hour"),
    ]


_ANALYTICS_KEY = ("merchant_id", "livemode", "currency", "hour")

# 0018: payment analytics by mode, merchant, currency and UTC hour, kept by the worker
# (adapters/sql/analytics_rollup.py); the hours whose rows changed since are listed in
# analytics_dirty_hours by triggers on payment_attempts and ledger_entries.
analytics_hourly_attempts = Table(
    "analytics_hourly_attempts",
    metadata,
    *_analytics_key(),
    Column("succeeded", BigInteger, nullable=False),
    Column("failed", BigInteger, nullable=False),
    PrimaryKeyConstraint(*_ANALYTICS_KEY),
)
analytics_hourly_money = Table(
    "analytics_hourly_money",
    metadata,
    *_analytics_key(),
    Column("type", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("net", BigInteger, nullable=False),
    PrimaryKeyConstraint(*_ANALYTICS_KEY, "type"),
)
analytics_hourly_declines = Table(
    "analytics_hourly_declines",
    metadata,
    *_analytics_key(),
    Column("reason", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint(*_ANALYTICS_KEY, "reason"),
)
# Append-only and without a key: a change adds a row and never waits on another's.
analytics_dirty_hours = Table(
    "analytics_dirty_hours",
    metadata,
    *_analytics_key(),
    Index("ix_analytics_dirty_hours_merchant_id_livemode_currency_hour", *_ANALYTICS_KEY),
)
# The merchants whose rollup the worker has built (every row they had, summed once).
analytics_rollup_merchants = Table(
    "analytics_rollup_merchants",
    metadata,
    Column("merchant_id", Text, primary_key=True),
    timestamp("built"),
)


APPEND_ONLY_TABLES = (
    "payment_events",
    "audit_events",
    "ledger_entries",
    "ledger_postings",
    "ledger_checkpoints",
    "settlement_lines",
    "dispute_evidence",
)

# The NOTIFY channel of payment_events' insert trigger (0006_watch); the payload is the
# payment intent's id.
INTENT_CHANGED_CHANNEL = "payment_intent_changed"
# The NOTIFY channel of api_keys' trigger (0019_api_key_changes); the payload is the key's
# lookup (its clear prefix).
API_KEY_CHANGED_CHANNEL = "api_key_changed"
# The NOTIFY channel of webhook_deliveries' and webhook_endpoints' triggers
# (0020_webhook_due): a delivery may be due; no payload.
WEBHOOK_DUE_CHANNEL = "webhook_delivery_due"
