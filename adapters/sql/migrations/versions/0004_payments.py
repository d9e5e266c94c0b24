"""Payments: attempts, refunds, and what the intent and its events need for them.

Revision ID: 0004_payments
Revises: 0003_idempotency
Create Date: 2025-01-20

- payment_attempts: one row per try at an acquirer, with its own status; a partial
  unique index allows one attempt per intent that is not FAILED.
- refunds: amount > 0; the sum per intent is held on payment_intents.amount_refunded,
  whose CHECK (<= amount_received) already exists.
- payment_intents: latest_attempt, failed_attempts, capture_before; CHECK that held plus
  received never exceeds the amount; partial indexes for the expiry jobs.
- payment_events: kind, object_id, amount (refund events, captured amounts). Adding
  columns is allowed by the append-only triggers (they refuse row changes, not DDL).

Written by hand; tests/contract/test_postgres_only.py compares the result with tables.py.
CHECK names go through op.f(): they are final as written. Without it Alembic applies the
metadata's "ck" naming convention to an already-prefixed name and doubles the prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_payments"
down_revision: str | None = "0003_idempotency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the domain's enums at this revision (never import them here).
_ATTEMPT_STATUSES = (
    "PROCESSING", "REQUIRES_ACTION", "AUTHORIZED", "CAPTURE_PENDING", "CAPTURED",
    "VOID_PENDING", "VOIDED", "FAILED",
)  # fmt: skip
_IN_FLIGHT = ("CAPTURE_PENDING", "PROCESSING", "VOID_PENDING")
_REFUND_STATUSES = ("PENDING", "SUCCEEDED", "FAILED")
_REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
_EVENT_KINDS = (
    "STATUS_CHANGED", "ATTEMPT_FAILED", "REFUND_PENDING", "REFUND_SUCCEEDED", "REFUND_FAILED",
)  # fmt: skip


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Text(), server_default="", nullable=False)


def _zero(name: str, kind: type[sa.types.TypeEngine[int]] = sa.BigInteger) -> sa.Column[object]:
    return sa.Column(name, kind(), server_default=sa.text("0"), nullable=False)


def upgrade() -> None:
    # --- payment_intents ---------------------------------------------------------------
    op.add_column("payment_intents", _text("latest_attempt"))
    op.add_column("payment_intents", _zero("failed_attempts", sa.Integer))
    op.add_column("payment_intents", _ts("capture_before", nullable=True))
    op.create_check_constraint(
        op.f("ck_payment_intents_failed_attempts"),
        "payment_intents",
        "failed_attempts >= 0 AND failed_attempts <= attempts",
    )
    op.create_check_constraint(
        op.f("ck_payment_intents_amount_held"),
        "payment_intents",
        "amount_capturable + amount_received <= amount",
    )
    op.create_index(
        "ix_payment_intents_unconfirmed_created",
        "payment_intents",
        ["created"],
        postgresql_where=sa.text("status IN ('REQUIRES_PAYMENT_METHOD', 'REQUIRES_CONFIRMATION')"),
    )
    op.create_index(
        "ix_payment_intents_capture_before",
        "payment_intents",
        ["capture_before"],
        postgresql_where=sa.text("status = 'REQUIRES_CAPTURE'"),
    )

    # --- payment_events ----------------------------------------------------------------
    op.add_column(
        "payment_events",
        sa.Column("kind", sa.Text(), server_default="STATUS_CHANGED", nullable=False),
    )
    op.add_column("payment_events", _text("object_id"))
    op.add_column("payment_events", sa.Column("amount", sa.BigInteger(), nullable=True))
    op.create_check_constraint(
        op.f("ck_payment_events_kind"), "payment_events", _one_of("kind", _EVENT_KINDS)
    )

    # --- payment_attempts --------------------------------------------------------------
    op.create_table(
        "payment_attempts",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("payment_intent_id", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("payment_method_type", sa.Text(), nullable=False),
        sa.Column("acquirer", sa.Text(), nullable=False),
        _text("payment_method"),
        _text("card_brand"),
        _text("card_last4"),
        _text("card_fingerprint"),
        _text("upi_vpa"),
        _text("acquirer_reference"),
        _text("acquirer_code"),
        _text("authorization_code"),
        sa.Column("error", postgresql.JSONB(), nullable=True),
        sa.Column("next_action", postgresql.JSONB(), nullable=True),
        _zero("amount_authorized"),
        _zero("amount_captured"),
        _zero("amount_to_capture"),
        _text("capture_reference"),
        _zero("captures", sa.Integer),
        _ts("authorized_at", nullable=True),
        _ts("created"),
        _ts("updated_at"),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_attempts"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_payment_attempts_merchant_id_merchants"
        ),
        sa.ForeignKeyConstraint(
            ["payment_intent_id"],
            ["payment_intents.id"],
            name="fk_payment_attempts_payment_intent_id_payment_intents",
        ),
        sa.CheckConstraint(
            _one_of("status", _ATTEMPT_STATUSES), name=op.f("ck_payment_attempts_status")
        ),
        sa.CheckConstraint(
            _one_of("payment_method_type", ("card", "upi")),
            name=op.f("ck_payment_attempts_payment_method_type"),
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_payment_attempts_currency")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_attempts_amount_positive")),
        sa.CheckConstraint(
            "amount_authorized >= 0 AND amount_authorized <= amount",
            name=op.f("ck_payment_attempts_amount_authorized"),
        ),
        sa.CheckConstraint(
            "amount_captured >= 0 AND amount_to_capture >= 0"
            " AND amount_captured + amount_to_capture <= amount_authorized",
            name=op.f("ck_payment_attempts_amount_captured"),
        ),
        sa.CheckConstraint(
            "card_last4 ~ '^([0-9]{4})?$'", name=op.f("ck_payment_attempts_card_last4")
        ),
        sa.CheckConstraint("captures >= 0", name=op.f("ck_payment_attempts_captures")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_payment_attempts_version")),
    )
    op.create_index(
        "ix_payment_attempts_merchant_id_payment_intent_id_id",
        "payment_attempts",
        ["merchant_id", "payment_intent_id", "id"],
    )
    op.create_index(
        "uq_payment_attempts_payment_intent_id_active",
        "payment_attempts",
        ["payment_intent_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'FAILED'"),
    )
    op.create_index(
        "ix_payment_attempts_in_flight_updated_at",
        "payment_attempts",
        ["updated_at"],
        postgresql_where=sa.text(_one_of("status", _IN_FLIGHT)),
    )

    # --- refunds -----------------------------------------------------------------------
    op.create_table(
        "refunds",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("payment_intent_id", sa.Text(), nullable=False),
        sa.Column("attempt_id", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        _text("reason"),
        _text("acquirer_reference"),
        _text("failure_code"),
        _ts("created"),
        _ts("updated_at"),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_refunds_merchant_id_merchants"
        ),
        sa.ForeignKeyConstraint(
            ["payment_intent_id"],
            ["payment_intents.id"],
            name="fk_refunds_payment_intent_id_payment_intents",
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["payment_attempts.id"], name="fk_refunds_attempt_id_payment_attempts"
        ),
        sa.CheckConstraint(_one_of("status", _REFUND_STATUSES), name=op.f("ck_refunds_status")),
        sa.CheckConstraint(
            f"reason = '' OR {_one_of('reason', _REFUND_REASONS)}", name=op.f("ck_refunds_reason")
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_refunds_currency")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount_positive")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_refunds_version")),
    )
    op.create_index("ix_refunds_merchant_id_id", "refunds", ["merchant_id", sa.text("id DESC")])
    op.create_index(
        "ix_refunds_merchant_id_payment_intent_id_id",
        "refunds",
        ["merchant_id", "payment_intent_id", sa.text("id DESC")],
    )
    op.create_index(
        "ix_refunds_pending_updated_at",
        "refunds",
        ["updated_at"],
        postgresql_where=sa.text("status = 'PENDING'"),
    )


def downgrade() -> None:
    op.drop_table("refunds")
    op.drop_table("payment_attempts")
    op.drop_constraint(op.f("ck_payment_events_kind"), "payment_events", type_="check")
    for column in ("amount", "object_id", "kind"):
        op.drop_column("payment_events", column)
    op.drop_index("ix_payment_intents_capture_before", table_name="payment_intents")
    op.drop_index("ix_payment_intents_unconfirmed_created", table_name="payment_intents")
    op.drop_constraint(op.f("ck_payment_intents_amount_held"), "payment_intents", type_="check")
    op.drop_constraint(op.f("ck_payment_intents_failed_attempts"), "payment_intents", type_="check")
    for column in ("capture_before", "failed_attempts", "latest_attempt"):
        op.drop_column("payment_intents", column)
