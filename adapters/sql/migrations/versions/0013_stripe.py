"""Webhook endpoints sign and shape their deliveries by a scheme of their own.

Revision ID: 0013_stripe
Revises: 0008_checkout
Create Date: 2026-12-06

- webhook_endpoints gets signature_scheme (core.events.model.SignatureScheme):
  STANDARD_WEBHOOKS, what every endpoint had so far (the default), or STRIPE for
  endpoints made through the Stripe-compatible surface (Stripe-Signature, Stripe's
  shapes). Set on creation, never changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_stripe"
down_revision: str | None = "0008_checkout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhook_endpoints",
        sa.Column("signature_scheme", sa.Text, nullable=False, server_default="STANDARD_WEBHOOKS"),
    )
    op.create_check_constraint(
        op.f("ck_webhook_endpoints_signature_scheme"),
        "webhook_endpoints",
        "signature_scheme IN ('STANDARD_WEBHOOKS', 'STRIPE')",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_webhook_endpoints_signature_scheme"), "webhook_endpoints", type_="check"
    )
    op.drop_column("webhook_endpoints", "signature_scheme")
