# ruff: noqa: E501  (the DDL is tables.py's, compiled, one statement per line)
"""Events and webhooks: the outbox, endpoints, deliveries and the delivery log.

Revision ID: 0007_events
Revises: 0006_watch
Create Date: 2026-12-06

- events: the transactional outbox (core/events/outbox.py), one row per event, written
  in the transaction of its change; pruned after 30 days by the worker.
- webhook_endpoints: the merchant's URLs, with the signing secret sealed (AES-256-GCM).
- webhook_deliveries: one event owed to one endpoint; the workers' claim reads
  ix_webhook_deliveries_due with FOR UPDATE SKIP LOCKED under a lease.
- webhook_delivery_attempts: the delivery log.

Written by hand; tests/contract/test_postgres_only.py compares the result with tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007_events"
down_revision: str | None = "0006_watch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE events (
            id TEXT NOT NULL,
            merchant_id TEXT NOT NULL,
            type TEXT NOT NULL,
            created TIMESTAMP WITH TIME ZONE NOT NULL,
            livemode BOOLEAN NOT NULL,
            data JSONB NOT NULL,
            request_id TEXT DEFAULT '' NOT NULL,
            idempotency_key TEXT DEFAULT '' NOT NULL,
            streamed_at TIMESTAMP WITH TIME ZONE,
            CONSTRAINT pk_events PRIMARY KEY (id),
            CONSTRAINT fk_events_merchant_id_merchants FOREIGN KEY(merchant_id) REFERENCES merchants (id)
        )
        """
    )
    op.execute(
        """
        CREATE INDEX ix_events_created ON events (created)
        """
    )
    op.execute(
        """
        CREATE INDEX ix_events_merchant_id_livemode_created ON events (merchant_id, livemode, created)
        """
    )
    op.execute(
        """
        CREATE INDEX ix_events_merchant_id_livemode_id ON events (merchant_id, livemode, id DESC)
        """
    )
    op.execute(
        """
        CREATE INDEX ix_events_unstreamed ON events (created) WHERE streamed_at IS NULL
        """
    )
    op.execute(
        """
        CREATE TABLE webhook_endpoints (
            id TEXT NOT NULL,
            merchant_id TEXT NOT NULL,
            url TEXT NOT NULL,
            enabled_events TEXT[] NOT NULL,
            livemode BOOLEAN NOT NULL,
            secret BYTEA NOT NULL,
            previous_secret BYTEA,
            previous_secret_expires_at TIMESTAMP WITH TIME ZONE,
            description TEXT DEFAULT '' NOT NULL,
            disabled BOOLEAN DEFAULT false NOT NULL,
            disabled_reason TEXT DEFAULT '' NOT NULL,
            failing_since TIMESTAMP WITH TIME ZONE,
            created TIMESTAMP WITH TIME ZONE NOT NULL,
            version INTEGER DEFAULT 1 NOT NULL,
            CONSTRAINT pk_webhook_endpoints PRIMARY KEY (id),
            CONSTRAINT ck_webhook_endpoints_enabled_events CHECK (cardinality(enabled_events) >= 1),
            CONSTRAINT fk_webhook_endpoints_merchant_id_merchants FOREIGN KEY(merchant_id) REFERENCES merchants (id)
        )
        """
    )
    op.execute(
        """
        CREATE INDEX ix_webhook_endpoints_merchant_id_livemode_id ON webhook_endpoints (merchant_id, livemode, id DESC)
        """
    )
    op.execute(
        """
        CREATE TABLE webhook_deliveries (
            id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            endpoint_id TEXT NOT NULL,
            merchant_id TEXT NOT NULL,
            status TEXT NOT NULL,
            created TIMESTAMP WITH TIME ZONE NOT NULL,
            next_attempt_at TIMESTAMP WITH TIME ZONE,
            attempts INTEGER DEFAULT 0 NOT NULL,
            lease_until TIMESTAMP WITH TIME ZONE,
            lease_token TEXT DEFAULT '' NOT NULL,
            last_status_code INTEGER DEFAULT 0 NOT NULL,
            last_error TEXT DEFAULT '' NOT NULL,
            CONSTRAINT pk_webhook_deliveries PRIMARY KEY (id),
            CONSTRAINT ck_webhook_deliveries_status CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED')),
            CONSTRAINT fk_webhook_deliveries_event_id_events FOREIGN KEY(event_id) REFERENCES events (id) ON DELETE CASCADE,
            CONSTRAINT fk_webhook_deliveries_endpoint_id_webhook_endpoints FOREIGN KEY(endpoint_id) REFERENCES webhook_endpoints (id) ON DELETE CASCADE
        )
        """
    )
    op.execute(
        """
        CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'PENDING'
        """
    )
    op.execute(
        """
        CREATE INDEX ix_webhook_deliveries_endpoint_id_id ON webhook_deliveries (endpoint_id, id DESC)
        """
    )
    op.execute(
        """
        CREATE INDEX ix_webhook_deliveries_event_id ON webhook_deliveries (event_id)
        """
    )
    op.execute(
        """
        CREATE INDEX ix_webhook_deliveries_leased ON webhook_deliveries (endpoint_id, lease_until) WHERE status = 'PENDING' AND lease_until IS NOT NULL
        """
    )
    op.execute(
        """
        CREATE TABLE webhook_delivery_attempts (
            id TEXT NOT NULL,
            delivery_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            endpoint_id TEXT NOT NULL,
            merchant_id TEXT NOT NULL,
            attempted_at TIMESTAMP WITH TIME ZONE NOT NULL,
            request_headers JSONB NOT NULL,
            status_code INTEGER NOT NULL,
            response_body TEXT DEFAULT '' NOT NULL,
            latency_ms INTEGER NOT NULL,
            error TEXT DEFAULT '' NOT NULL,
            CONSTRAINT pk_webhook_delivery_attempts PRIMARY KEY (id),
            CONSTRAINT fk_webhook_delivery_attempts_delivery_id_webhook_deliveries FOREIGN KEY(delivery_id) REFERENCES webhook_deliveries (id) ON DELETE CASCADE
        )
        """
    )
    op.execute(
        """
        CREATE INDEX ix_webhook_delivery_attempts_delivery_id_id ON webhook_delivery_attempts (delivery_id, id)
        """
    )


def downgrade() -> None:
    for table in ("webhook_delivery_attempts", "webhook_deliveries", "webhook_endpoints", "events"):
        op.execute(f"DROP TABLE {table}")
