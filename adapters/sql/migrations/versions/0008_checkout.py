"""Hosted checkout: where the checkout sends the shopper, and the key it pays with.

Revision ID: 0008_checkout
Revises: 0007_events
Create Date: 2026-12-06

- payment_intents gets success_url and cancel_url (CreatePaymentIntent), where the hosted
  checkout sends the shopper after a payment or from its "Back" link.
- api_keys gets publishable_key: the whole key, for publishable keys only. A publishable
  key is public by design (every checkout page carries it); the web role puts the
  merchant's newest one into the hosted checkout page. Secret keys stay a digest only (a
  check constraint says so). Keys issued before this revision have none: the checkout of
  such a merchant asks for a new publishable key.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_checkout"
down_revision: str | None = "0007_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for column in ("success_url", "cancel_url"):
        op.add_column(
            "payment_intents", sa.Column(column, sa.Text, nullable=False, server_default="")
        )
    op.add_column("api_keys", sa.Column("publishable_key", sa.Text, nullable=True))
    op.create_check_constraint(
        op.f("ck_api_keys_only_publishable_in_clear"),
        "api_keys",
        "type = 'PUBLISHABLE' OR publishable_key IS NULL",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_api_keys_only_publishable_in_clear"), "api_keys")
    op.drop_column("api_keys", "publishable_key")
    for column in ("cancel_url", "success_url"):
        op.drop_column("payment_intents", column)
