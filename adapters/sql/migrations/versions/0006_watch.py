"""Watch: intent change notification, and the pollers' index.

Revision ID: 0006_watch
Revises: 0005_ledger
Create Date: 2025-02-03

- payment_events gets an AFTER INSERT statement trigger that sends
  `NOTIFY payment_intent_changed, '<intent id>'` once per intent the statement wrote
  about. PostgreSQL delivers notifications at commit (never for a rolled back
  transaction) and folds identical ones of one transaction into one. Every change of an
  intent appends its event in the same transaction, so this is "the intent changed"; the
  API processes LISTEN to it for WatchPaymentIntent (adapters/sql/intent_changes.py).
- ix_payment_attempts_awaiting_action: the UPI poller's claim (REQUIRES_ACTION attempts
  of one payment method type, oldest `updated_at` first).

Written by hand; tests/contract/test_postgres_only.py compares the result with tables.py
(indexes; triggers are tested on their own).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_watch"
down_revision: str | None = "0005_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A statement trigger with a transition table: one call per INSERT, however many rows
    # (the expiry job inserts a batch), one notification per intent.
    op.execute(
        """
        CREATE FUNCTION paygate_notify_intent_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('payment_intent_changed', intent_id)
            FROM (SELECT DISTINCT payment_intent_id AS intent_id FROM inserted) AS changed;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER payment_events_notify
        AFTER INSERT ON payment_events
        REFERENCING NEW TABLE AS inserted
        FOR EACH STATEMENT EXECUTE FUNCTION paygate_notify_intent_changed()
        """
    )
    op.create_index(
        "ix_payment_attempts_awaiting_action",
        "payment_attempts",
        ["payment_method_type", "updated_at"],
        postgresql_where=sa.text("status = 'REQUIRES_ACTION'"),
    )


def downgrade() -> None:
    op.drop_index("ix_payment_attempts_awaiting_action", table_name="payment_attempts")
    op.execute("DROP TRIGGER payment_events_notify ON payment_events")
    op.execute("DROP FUNCTION paygate_notify_intent_changed()")
