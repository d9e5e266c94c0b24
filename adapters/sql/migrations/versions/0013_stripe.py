"""Webhook endpoints sign and shape their deliveries by a scheme of their own.

Revision ID: 0013_stripe
Revises: 0009_risk
Create Date: 2026-12-06

- webhook_endpoints gets signature_scheme (core.events.model.SignatureScheme):
  STANDARD_WEBHOOKS, what every endpoint had so far (the default), or STRIPE for
  endpoints made through the Stripe-compatible surface (Stripe-Signature, Stripe's
  shapes). Set on creation, never changed.
- payment_events.kind may be DETAILS_UPDATED: UpdatePaymentIntent changed the merchant's
  own fields of an intent (description, metadata, receipt_email).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_stripe"
down_revision: str | None = "0009_risk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_KINDS = (
    "STATUS_CHANGED",
    "ATTEMPT_FAILED",
    "REFUND_PENDING",
    "REFUND_SUCCEEDED",
    "REFUND_FAILED",
)


def _kind_check(kinds: Sequence[str], *, valid: bool = True) -> None:
    op.drop_constraint(op.f("ck_payment_events_kind"), "payment_events", type_="check")
    listed = ", ".join(repr(k) for k in kinds)
    op.execute(
        f"ALTER TABLE payment_events ADD CONSTRAINT ck_payment_events_kind "
        f"CHECK (kind IN ({listed})){'' if valid else ' NOT VALID'}"
    )


def upgrade() -> None:
    _kind_check((*_KINDS, "DETAILS_UPDATED"))
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
    # payment_events is append-only: its DETAILS_UPDATED rows stay, new ones are refused.
    _kind_check(_KINDS, valid=False)
    op.drop_constraint(
        op.f("ck_webhook_endpoints_signature_scheme"), "webhook_endpoints", type_="check"
    )
    op.drop_column("webhook_endpoints", "signature_scheme")
