"""Payment analytics by the hour: a rollup the worker keeps, and the hours to redo.

Revision ID: 0018_analytics_rollup
Revises: 0017_redirect_attempt_details
Create Date: 2026-12-06

- analytics_hourly_attempts, analytics_hourly_money, analytics_hourly_declines: per
  mode, merchant, currency and hour (UTC), what the three analytics queries sum over
  that hour: attempts by outcome, balance transactions' sums by type, failed attempts
  by decline code (docs/dashboard.md).
- analytics_dirty_hours: an append-only list of (mode, merchant, currency, hour) whose
  rows changed since the rollup last summed them. A row trigger writes one in the same
  transaction as the change (an attempt reaching or leaving an outcome, its decline
  code, a payment-activity balance transaction), so no change can commit unrecorded;
  reads take those hours from the raw tables and the worker sums them again.
- analytics_rollup_merchants: the merchants whose rollup is built: every row they had
  summed once, by the worker, a few merchants a transaction. Until then a merchant's
  reads use the raw tables only.

Nothing here rewrites or scans an existing table: the rollup is built afterwards by the
worker (adapters/sql/analytics_rollup.py), in a transaction of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_analytics_rollup"
down_revision: str | None = "0017_redirect_attempt_details"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ("merchant_id", "livemode", "currency", "hour")
# The hour of a time, the same in every session time zone (date_trunc would use the
# session's, and a +05:30 session would cut at half past).
_HOUR = "date_bin('1 hour', {0}, timestamptz '2000-01-01 00:00+00')"
_COUNTED = "({0}.status = 'FAILED' OR {0}.amount_authorized > 0)"
# What an attempt adds to its hour: nothing until it has an outcome; its outcome class
# (failed, authorized) and, when failed, its decline code. A change of anything else
# (a capture, a void, the next action) leaves the hour's sums as they were.
_ATTEMPT_CHANGED = (
    "(OLD.status = 'FAILED') <> (NEW.status = 'FAILED')"
    " OR (OLD.amount_authorized > 0) <> (NEW.amount_authorized > 0)"
    " OR OLD.decline_code <> NEW.decline_code OR OLD.merchant_id <> NEW.merchant_id"
    " OR OLD.livemode <> NEW.livemode OR OLD.currency <> NEW.currency"
    " OR OLD.created <> NEW.created"
)


def _key_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("merchant_id", sa.Text, nullable=False),
        sa.Column("livemode", sa.Boolean, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "analytics_hourly_attempts",
        *_key_columns(),
        sa.Column("succeeded", sa.BigInteger, nullable=False),
        sa.Column("failed", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, name=op.f("pk_analytics_hourly_attempts")),
    )
    op.create_table(
        "analytics_hourly_money",
        *_key_columns(),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("fee", sa.BigInteger, nullable=False),
        sa.Column("net", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, "type", name=op.f("pk_analytics_hourly_money")),
    )
    op.create_table(
        "analytics_hourly_declines",
        *_key_columns(),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, "reason", name=op.f("pk_analytics_hourly_declines")),
    )
    op.create_table("analytics_dirty_hours", *_key_columns())
    op.create_index(
        op.f("ix_analytics_dirty_hours_merchant_id_livemode_currency_hour"),
        "analytics_dirty_hours",
        list(_KEY),
    )
    op.create_table(
        "analytics_rollup_merchants",
        sa.Column("merchant_id", sa.Text, nullable=False),
        sa.Column("built", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_analytics_rollup_merchants")),
    )
    # Row triggers, so that the WHEN clause keeps the function out of the changes that do
    # not touch an hour's sums (an attempt created in flight, a capture).
    op.execute(
        f"""
        CREATE FUNCTION paygate_analytics_attempt_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            -- The old hour too, when the change moved the row out of it.
            IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (
                    OLD.merchant_id, OLD.livemode, OLD.currency, {_HOUR.format("OLD.created")})
                    IS DISTINCT FROM (NEW.merchant_id, NEW.livemode, NEW.currency,
                                      {_HOUR.format("NEW.created")})) THEN
                INSERT INTO analytics_dirty_hours VALUES (
                    OLD.merchant_id, OLD.livemode, OLD.currency, {_HOUR.format("OLD.created")});
            END IF;
            IF TG_OP <> 'DELETE' THEN
                INSERT INTO analytics_dirty_hours VALUES (
                    NEW.merchant_id, NEW.livemode, NEW.currency, {_HOUR.format("NEW.created")});
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER payment_attempts_analytics_insert
        AFTER INSERT ON payment_attempts FOR EACH ROW
        WHEN {_COUNTED.format("NEW")}
        EXECUTE FUNCTION paygate_analytics_attempt_changed()
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER payment_attempts_analytics_update
        AFTER UPDATE ON payment_attempts FOR EACH ROW
        WHEN ({_ATTEMPT_CHANGED})
        EXECUTE FUNCTION paygate_analytics_attempt_changed()
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER payment_attempts_analytics_delete
        AFTER DELETE ON payment_attempts FOR EACH ROW
        WHEN {_COUNTED.format("OLD")}
        EXECUTE FUNCTION paygate_analytics_attempt_changed()
        """
    )
    # Ledger entries are append-only (0005): only an insert changes an hour's money.
    op.execute(
        f"""
        CREATE FUNCTION paygate_analytics_entry_posted() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO analytics_dirty_hours VALUES (
                NEW.merchant_id, NEW.livemode, NEW.bt_currency, {_HOUR.format("NEW.created")});
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER ledger_entries_analytics_insert
        AFTER INSERT ON ledger_entries FOR EACH ROW
        WHEN (NEW.bt_type IN ('CHARGE', 'REFUND', 'DISPUTE', 'FEE'))
        EXECUTE FUNCTION paygate_analytics_entry_posted()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_entries_analytics_insert ON ledger_entries")
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER payment_attempts_analytics_{event} ON payment_attempts")
    op.execute("DROP FUNCTION paygate_analytics_entry_posted()")
    op.execute("DROP FUNCTION paygate_analytics_attempt_changed()")
    for table in (
        "analytics_rollup_merchants",
        "analytics_dirty_hours",
        "analytics_hourly_declines",
        "analytics_hourly_money",
        "analytics_hourly_attempts",
    ):
        op.drop_table(table)
