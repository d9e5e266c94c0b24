"""Idempotency keys of mutating calls.

Revision ID: 0003_idempotency
Revises: 0002_access
Create Date: 2025-01-20

Written by hand (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_idempotency"
down_revision: str | None = "0002_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen at this revision, like the enums of 0001.
_KEY_MAX_LENGTH = 255


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_status", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "key", "method", name="pk_idempotency_keys"),
        sa.CheckConstraint(
            "status IN ('IN_FLIGHT', 'COMPLETED')", name=op.f("ck_idempotency_keys_status")
        ),
        sa.CheckConstraint(
            f"char_length(key) BETWEEN 1 AND {_KEY_MAX_LENGTH}",
            name=op.f("ck_idempotency_keys_key_length"),
        ),
        sa.CheckConstraint(
            "octet_length(request_hash) = 32", name=op.f("ck_idempotency_keys_request_hash_length")
        ),
        sa.CheckConstraint(
            "error_code BETWEEN 1 AND 16", name=op.f("ck_idempotency_keys_error_code")
        ),
        sa.CheckConstraint(
            "(status = 'IN_FLIGHT' AND completed_at IS NULL AND response IS NULL"
            " AND error_code IS NULL AND error_status IS NULL)"
            " OR (status = 'COMPLETED' AND completed_at IS NOT NULL"
            " AND (response IS NULL) = (error_code IS NOT NULL)"
            " AND (error_code IS NULL) = (error_status IS NULL))",
            name=op.f("ck_idempotency_keys_outcome"),
        ),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    # Every row is inserted, updated once (completion) and deleted within a day: leave
    # room on each page so the completing UPDATE stays a HOT update (no index changes),
    # and vacuum this small, hot table early.
    op.execute(
        "ALTER TABLE idempotency_keys SET (fillfactor = 80,"
        " autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05)"
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
