"""Per-key IP allow-lists, and the bookkeeping of receipts and alerts by email.

Revision ID: 0012_key_ip_allowlist
Revises: 0013_stripe
Create Date: 2026-12-06

- api_keys gets allowed_ips: the networks (normalized CIDRs) a secret key may be used
  from; empty, the default, means anywhere. A publishable key never has any (a check
  constraint says so): shoppers' browsers use it from every address.
- events gets notified_at: set once the worker has turned the event into the emails it
  calls for (a receipt, an alert) or found it needs none. Events that exist before this
  revision count as handled, so upgrading sends no mail about the past.
- emails: the outbox of emails, one row per (event, kind): the unique key is what makes a
  receipt go out once per event however often the worker looks at it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0012_key_ip_allowlist"
down_revision: str | None = "0013_stripe"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column("allowed_ips", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
    )
    op.create_check_constraint(
        op.f("ck_api_keys_publishable_has_no_allowed_ips"),
        "api_keys",
        "type = 'SECRET' OR cardinality(allowed_ips) = 0",
    )
    op.add_column("events", sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE events SET notified_at = created")
    op.create_index(
        "ix_events_unnotified",
        "events",
        ["created"],
        postgresql_where=sa.text("notified_at IS NULL"),
    )
    op.execute(
        """
        CREATE TABLE emails (
            id TEXT NOT NULL,
            merchant_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            recipient TEXT NOT NULL,
            subject TEXT NOT NULL,
            text_body TEXT NOT NULL,
            html_body TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER DEFAULT 0 NOT NULL,
            next_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL,
            created TIMESTAMP WITH TIME ZONE NOT NULL,
            sent_at TIMESTAMP WITH TIME ZONE,
            last_error TEXT DEFAULT '' NOT NULL,
            CONSTRAINT pk_emails PRIMARY KEY (id),
            CONSTRAINT fk_emails_merchant_id_merchants FOREIGN KEY(merchant_id)
                REFERENCES merchants (id),
            CONSTRAINT ck_emails_status CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
            CONSTRAINT uq_emails_event_id_kind UNIQUE (event_id, kind)
        )
        """
    )
    op.create_index(
        "ix_emails_due",
        "emails",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'PENDING'"),
    )


def downgrade() -> None:
    op.drop_index("ix_emails_due", table_name="emails")
    op.drop_table("emails")
    op.drop_index("ix_events_unnotified", table_name="events")
    op.drop_column("events", "notified_at")
    op.drop_constraint(op.f("ck_api_keys_publishable_has_no_allowed_ips"), "api_keys")
    op.drop_column("api_keys", "allowed_ips")
