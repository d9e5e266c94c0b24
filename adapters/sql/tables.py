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

from core.access.model import KeyType
from core.access.roles import Role
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
