"""Risk engine: each attempt's assessment, the intent's copy of its latest, and the
merchants' own risk settings.

Revision ID: 0009_risk
Revises: 0008_checkout
Create Date: 2026-12-06

- payment_attempts.risk: the score, decision and reasons of the risk engine for that
  attempt (JSONB, fixed when the attempt is created; NULL before this revision and for
  attempts the engine did not see).
- payment_intents.risk: the latest attempt's assessment, so that reading an intent stays
  one statement.
- risk_overrides: per merchant, thresholds, rules switched off and other scores over the
  rules file (core/risk/overrides.py); every change is audited in audit_events.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision: str = "0009_risk"
down_revision: str | None = "0008_checkout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payment_attempts", sa.Column("risk", JSONB, nullable=True))
    op.add_column("payment_intents", sa.Column("risk", JSONB, nullable=True))
    op.create_table(
        "risk_overrides",
        sa.Column("merchant_id", sa.Text, nullable=False),
        sa.Column("review_threshold", sa.Integer, nullable=True),
        sa.Column("block_threshold", sa.Integer, nullable=True),
        sa.Column("disabled_rules", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("scores", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", name="pk_risk_overrides"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_risk_overrides_merchant_id_merchants"
        ),
        sa.CheckConstraint(
            "review_threshold BETWEEN 1 AND 100", name=op.f("ck_risk_overrides_review_threshold")
        ),
        sa.CheckConstraint(
            "block_threshold BETWEEN 1 AND 100", name=op.f("ck_risk_overrides_block_threshold")
        ),
    )


def downgrade() -> None:
    op.drop_table("risk_overrides")
    op.drop_column("payment_intents", "risk")
    op.drop_column("payment_attempts", "risk")
