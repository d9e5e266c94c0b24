"""Wallet and net banking attempts.

Revision ID: 0014_redirect_methods
Revises: 0011_merchant_profile
Create Date: 2026-12-06

- payment_attempts.payment_method_type may also be `wallet` or `netbanking` (the check
  constraint is widened; no row changes). The poller's index
  (ix_payment_attempts_awaiting_action) already leads with the type.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014_redirect_methods"
down_revision: str | None = "0011_merchant_profile"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ck_payment_attempts_payment_method_type"


def _one_of(values: Sequence[str]) -> str:
    return f"payment_method_type IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.drop_constraint(op.f(_NAME), "payment_attempts", type_="check")
    op.create_check_constraint(
        op.f(_NAME), "payment_attempts", _one_of(("card", "upi", "wallet", "netbanking"))
    )


def downgrade() -> None:
    op.drop_constraint(op.f(_NAME), "payment_attempts", type_="check")
    op.create_check_constraint(op.f(_NAME), "payment_attempts", _one_of(("card", "upi")))
