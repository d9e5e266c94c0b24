"""Initial schema: merchants, API keys, payment intents and their append-only events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand. A contract test compares the migrated database with
adapters/sql/tables.py, so a change to one without the other fails CI.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the domain's enums at the time of this revision: a later rename is a
# new revision, never an edit of this one.
_STATUSES = (
    "REQUIRES_PAYMENT_METHOD", "REQUIRES_CONFIRMATION", "REQUIRES_ACTION", "PROCESSING",
    "REQUIRES_CAPTURE", "SUCCEEDED", "CANCELED",
)  # fmt: skip
_ROLES = ("OWNER", "ADMIN", "DEVELOPER", "MANAGER", "STAFF")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "merchants",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        _ts("created"),
        sa.PrimaryKeyConstraint("id", name="pk_merchants"),
    )

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("lookup", sa.Text(), nullable=False),
        sa.Column("last4", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        _ts("created"),
        _ts("revoked_at", nullable=True),
        _ts("last_used_at", nullable=True),
        sa.Column("usage_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_api_keys_merchant_id_merchants"
        ),
        sa.CheckConstraint(
            _one_of("type", ("SECRET", "PUBLISHABLE")), name=op.f("ck_api_keys_type")
        ),
        sa.CheckConstraint(
            f"role IS NULL OR {_one_of('role', _ROLES)}", name=op.f("ck_api_keys_role")
        ),
        sa.CheckConstraint(
            "type = 'SECRET' OR role IS NULL", name=op.f("ck_api_keys_publishable_has_no_role")
        ),
        sa.CheckConstraint("usage_count >= 0", name=op.f("ck_api_keys_usage_count")),
    )
    op.create_index("ix_api_keys_lookup", "api_keys", ["lookup"])
    op.create_index("ix_api_keys_merchant_id_id", "api_keys", ["merchant_id", sa.text("id DESC")])

    op.create_table(
        "payment_intents",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("capture_method", sa.Text(), nullable=False),
        sa.Column("client_secret", sa.Text(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        _ts("created"),
        sa.Column("payment_method_types", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "metadata", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("receipt_email", sa.Text(), server_default="", nullable=False),
        sa.Column("return_url", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "amount_capturable", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("amount_received", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("payment_method", sa.Text(), server_default="", nullable=False),
        sa.Column("last_payment_error", postgresql.JSONB(), nullable=True),
        sa.Column("next_action", postgresql.JSONB(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _ts("canceled_at", nullable=True),
        sa.Column("cancellation_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_payment_intents"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_payment_intents_merchant_id_merchants"
        ),
        sa.CheckConstraint(_one_of("status", _STATUSES), name=op.f("ck_payment_intents_status")),
        sa.CheckConstraint(
            _one_of("capture_method", ("AUTOMATIC", "MANUAL")),
            name=op.f("ck_payment_intents_capture_method"),
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_payment_intents_currency")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_intents_amount_positive")),
        sa.CheckConstraint(
            "amount_received >= 0 AND amount_received <= amount",
            name=op.f("ck_payment_intents_amount_received"),
        ),
        sa.CheckConstraint(
            "amount_refunded >= 0 AND amount_refunded <= amount_received",
            name=op.f("ck_payment_intents_amount_refunded"),
        ),
        sa.CheckConstraint(
            "amount_capturable >= 0", name=op.f("ck_payment_intents_amount_capturable")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_payment_intents_attempts")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_payment_intents_version")),
    )
    op.create_index(
        "ix_payment_intents_merchant_id_id",
        "payment_intents",
        ["merchant_id", sa.text("id DESC")],
    )
    op.create_index(
        "ix_payment_intents_merchant_id_status_id",
        "payment_intents",
        ["merchant_id", "status", sa.text("id DESC")],
    )

    op.create_table(
        "payment_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("payment_intent_id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        _ts("occurred_at"),
        sa.PrimaryKeyConstraint("id", name="pk_payment_events"),
        sa.ForeignKeyConstraint(
            ["payment_intent_id"],
            ["payment_intents.id"],
            name="fk_payment_events_payment_intent_id_payment_intents",
        ),
    )
    op.create_index(
        "ix_payment_events_merchant_id_payment_intent_id_id",
        "payment_events",
        ["merchant_id", "payment_intent_id", "id"],
    )

    # History is immutable. A row trigger refuses UPDATE and DELETE; TRUNCATE fires no row
    # trigger, so a statement trigger refuses it too. Later append-only tables reuse the
    # function.
    op.execute(
        """
        CREATE FUNCTION paygate_refuse_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER payment_events_append_only
        BEFORE UPDATE OR DELETE ON payment_events
        FOR EACH ROW EXECUTE FUNCTION paygate_refuse_change()
        """
    )
    op.execute(
        """
        CREATE TRIGGER payment_events_no_truncate
        BEFORE TRUNCATE ON payment_events
        FOR EACH STATEMENT EXECUTE FUNCTION paygate_refuse_change()
        """
    )


def downgrade() -> None:
    op.drop_table("payment_events")
    op.execute("DROP FUNCTION paygate_refuse_change()")
    op.drop_table("payment_intents")
    op.drop_table("api_keys")
    op.drop_table("merchants")
