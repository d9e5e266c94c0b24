"""Business profile and payment settings; the indexes of analytics and the audit log.

Revision ID: 0011_merchant_profile
Revises: 0009_risk
Create Date: 2026-12-06

- merchant_profiles: one row per merchant that saved a profile (statement descriptor,
  support contacts, country, accepted currencies, default capture method, branding). The
  business name stays merchants.name, which the hosted checkout already shows.
- ix_ledger_entries_analytics: the balance transactions of a merchant in a currency by
  time, with the figures analytics sums INCLUDEd, so a range is one index-only scan.
- ix_payment_attempts_analytics: the attempts of a merchant in a currency by time, with
  what decides success INCLUDEd (an index-only scan for the counts).
- ix_payment_attempts_failed: the same for failed attempts only (a tenth of them, or so),
  which the decline reasons read with their error.
- ix_audit_events_merchant_id_action_id: the audit log filtered by action.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0011_merchant_profile"
down_revision: str | None = "0009_risk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "merchant_profiles",
        sa.Column("merchant_id", sa.Text, sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("statement_descriptor", sa.Text, nullable=False, server_default=""),
        sa.Column("support_email", sa.Text, nullable=False, server_default=""),
        sa.Column("support_url", sa.Text, nullable=False, server_default=""),
        sa.Column("country", sa.Text, nullable=False, server_default=""),
        sa.Column(
            "accepted_currencies",
            ARRAY(sa.Text),
            nullable=False,
            server_default=sa.text("'{}'::text[]"),
        ),
        sa.Column("default_capture_method", sa.Text, nullable=False, server_default="AUTOMATIC"),
        sa.Column("branding_color", sa.Text, nullable=False, server_default=""),
        sa.Column("logo_url", sa.Text, nullable=False, server_default=""),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_merchant_profiles")),
        sa.CheckConstraint(
            "default_capture_method IN ('AUTOMATIC', 'MANUAL')",
            name=op.f("ck_merchant_profiles_default_capture_method"),
        ),
        sa.CheckConstraint(
            "country = '' OR country ~ '^[A-Z]{2}$'", name=op.f("ck_merchant_profiles_country")
        ),
        sa.CheckConstraint(
            "branding_color = '' OR branding_color ~ '^#[0-9a-f]{6}$'",
            name=op.f("ck_merchant_profiles_branding_color"),
        ),
    )
    op.create_index(
        "ix_ledger_entries_analytics",
        "ledger_entries",
        ["merchant_id", "bt_currency", "created"],
        postgresql_include=["bt_type", "bt_amount", "bt_fee", "bt_net"],
        postgresql_where=sa.text("bt_type IS NOT NULL"),
    )
    op.create_index(
        "ix_payment_attempts_analytics",
        "payment_attempts",
        ["merchant_id", "currency", "created"],
        postgresql_include=["status", "amount_authorized"],
    )
    op.create_index(
        "ix_payment_attempts_failed",
        "payment_attempts",
        ["merchant_id", "currency", "created"],
        postgresql_where=sa.text("status = 'FAILED'"),
    )
    op.create_index(
        "ix_audit_events_merchant_id_action_id",
        "audit_events",
        ["merchant_id", "action", sa.text("id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_merchant_id_action_id", table_name="audit_events")
    op.drop_index("ix_payment_attempts_failed", table_name="payment_attempts")
    op.drop_index("ix_payment_attempts_analytics", table_name="payment_attempts")
    op.drop_index("ix_ledger_entries_analytics", table_name="ledger_entries")
    op.drop_table("merchant_profiles")
