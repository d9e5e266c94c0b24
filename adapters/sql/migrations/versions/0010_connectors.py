"""Connectors and routing: the route an attempt took and every try along it.

Revision ID: 0010_connectors
Revises: 0012_key_ip_allowlist
Create Date: 2026-12-06

- payment_attempts gets `route` (the routing rule that chose its acquirers) and `tries`
  (JSON list of {acquirer, outcome, code}: each acquirer asked, in order, and how it
  ended: circuit_open, unavailable, retryable, unknown, rejected, answered). `acquirer`
  stays the acquirer that holds the attempt: after a failover, the last one sent to.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0010_connectors"
down_revision: str | None = "0012_key_ip_allowlist"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "payment_attempts", sa.Column("route", sa.Text, nullable=False, server_default="")
    )
    op.add_column(
        "payment_attempts",
        sa.Column("tries", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )


def downgrade() -> None:
    op.drop_column("payment_attempts", "tries")
    op.drop_column("payment_attempts", "route")
