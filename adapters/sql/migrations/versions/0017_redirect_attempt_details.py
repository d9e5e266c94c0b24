"""The wallet or bank of an attempt, and the latest attempt's method on its intent.

Revision ID: 0017_redirect_attempt_details
Revises: 0016_ledger_mode
Create Date: 2026-12-06

- payment_attempts gets wallet_provider (paytm, ...) and netbanking_bank (HDFC, ...),
  NULL for every other method (a check constraint each ties it to payment_method_type).
- payment_intents gets payment_method_details (JSONB): the latest attempt's method as the
  API shows it, copied when the attempt is made, as payment_method and risk are, so that
  reading an intent stays one row.

Every column is nullable without a default: adding it rewrites no row. The checks are
added NOT VALID and validated by a statement of their own, the two steps a large table
needs (VALIDATE CONSTRAINT lets reads and writes go on while it scans). Alembic runs them
in one transaction, so here the scan does hold the ALTER's lock; it only reads, as every
existing row is NULL in the new columns. A deployment with a very large table runs the
VALIDATE statements later, by themselves. Validated, the constraints are what tables.py
declares.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0017_redirect_attempt_details"
down_revision: str | None = "0016_ledger_mode"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECKS = {
    "ck_payment_attempts_wallet_provider": (
        "wallet_provider IS NULL OR payment_method_type = 'wallet'"
    ),
    "ck_payment_attempts_netbanking_bank": (
        "netbanking_bank IS NULL OR payment_method_type = 'netbanking'"
    ),
}


def upgrade() -> None:
    op.add_column("payment_attempts", sa.Column("wallet_provider", sa.Text, nullable=True))
    op.add_column("payment_attempts", sa.Column("netbanking_bank", sa.Text, nullable=True))
    for name, condition in _CHECKS.items():
        op.execute(
            f"ALTER TABLE payment_attempts ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID"
        )
    for name in _CHECKS:
        op.execute(f"ALTER TABLE payment_attempts VALIDATE CONSTRAINT {name}")
    op.add_column("payment_intents", sa.Column("payment_method_details", JSONB, nullable=True))


def downgrade() -> None:
    op.drop_column("payment_intents", "payment_method_details")
    for name in _CHECKS:
        op.drop_constraint(name, "payment_attempts", type_="check")
    op.drop_column("payment_attempts", "netbanking_bank")
    op.drop_column("payment_attempts", "wallet_provider")
