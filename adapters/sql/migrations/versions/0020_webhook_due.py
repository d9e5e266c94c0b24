"""Webhook deliveries due: NOTIFY webhook_delivery_due when one may be.

Revision ID: 0020_webhook_due
Revises: 0019_api_key_changes
Create Date: 2026-12-07

- webhook_deliveries gets an AFTER INSERT and an AFTER UPDATE row trigger whose WHEN
  clause lets through a row left PENDING and not leased: a new delivery (the outbox's),
  one sent again (RetryWebhookDelivery, a replay), one whose lease a result released
  with a retry scheduled. webhook_endpoints gets an AFTER UPDATE row trigger for an
  endpoint enabled again (its PENDING deliveries are claimable from then on). Each sends
  `NOTIFY webhook_delivery_due, ''`, which PostgreSQL delivers at commit (never for a
  rolled back transaction) and folds into one per transaction. The workers LISTEN and
  claim at once (adapters/sql/webhook_due.py) instead of polling every 0.1 s: a row
  that fails the WHEN clause (an event no endpoint wants writes none) calls nothing.

Written by hand; tests/contract/test_webhook_due_migration.py takes it up and down.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0020_webhook_due"
down_revision: str | None = "0019_api_key_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DUE = "NEW.status = 'PENDING' AND NEW.lease_until IS NULL"


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION paygate_notify_webhook_delivery_due() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('webhook_delivery_due', '');
            RETURN NULL;
        END
        $$
        """
    )
    for operation in ("INSERT", "UPDATE"):
        op.execute(
            f"""
            CREATE TRIGGER webhook_deliveries_notify_{operation.lower()}
            AFTER {operation} ON webhook_deliveries
            FOR EACH ROW WHEN ({_DUE})
            EXECUTE FUNCTION paygate_notify_webhook_delivery_due()
            """
        )
    op.execute(
        """
        CREATE TRIGGER webhook_endpoints_notify_enabled
        AFTER UPDATE ON webhook_endpoints
        FOR EACH ROW WHEN (OLD.disabled AND NOT NEW.disabled)
        EXECUTE FUNCTION paygate_notify_webhook_delivery_due()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER webhook_endpoints_notify_enabled ON webhook_endpoints")
    op.execute("DROP TRIGGER webhook_deliveries_notify_update ON webhook_deliveries")
    op.execute("DROP TRIGGER webhook_deliveries_notify_insert ON webhook_deliveries")
    op.execute("DROP FUNCTION paygate_notify_webhook_delivery_due()")
