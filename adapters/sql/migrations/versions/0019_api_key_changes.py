"""API key changes: NOTIFY api_key_changed with the key's lookup.

Revision ID: 0019_api_key_changes
Revises: 0018_analytics_rollup
Create Date: 2026-12-06

- api_keys gets an AFTER UPDATE row trigger, whose WHEN clause lets through a change of
  any column but the usage counts (usage_count, last_used_at: flush_usage writes them
  every few seconds), and an AFTER DELETE row trigger. Both send
  `NOTIFY api_key_changed, '<lookup>'` (the key's clear prefix, never its digest), which
  PostgreSQL delivers at commit (never for a rolled back transaction) and folds, within
  one transaction, into one per lookup. Whatever changes a key (the API, the dashboard,
  the CLI, SQL by hand) is told: the API processes LISTEN and forget the key they cached
  (adapters/sql/key_changes.py). New keys are not told: no process has cached them.

Written by hand; tests/contract/test_key_changes_migration.py takes it up and down.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019_api_key_changes"
down_revision: str | None = "0018_analytics_rollup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every column but the usage counts, named: a row comparison costs the usage UPDATE a few
# microseconds of the server's CPU, to_jsonb(OLD) - ... about 30 (docs/access.md).
# tests/contract/test_key_changes_migration.py fails when a column is added to api_keys
# and not here (a later migration then replaces the trigger).
_COLUMNS = (
    "id", "merchant_id", "type", "role", "livemode", "lookup", "last4", "secret_hash",
    "created", "revoked_at", "expires_at", "publishable_key", "allowed_ips",
)  # fmt: skip
_CHANGED = "({}) IS DISTINCT FROM ({})".format(
    ", ".join(f"OLD.{c}" for c in _COLUMNS), ", ".join(f"NEW.{c}" for c in _COLUMNS)
)


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION paygate_notify_api_key_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('api_key_changed', OLD.lookup);
            IF TG_OP = 'UPDATE' AND NEW.lookup IS DISTINCT FROM OLD.lookup THEN
                PERFORM pg_notify('api_key_changed', NEW.lookup);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER api_keys_notify_update
        AFTER UPDATE ON api_keys
        FOR EACH ROW WHEN ({_CHANGED})
        EXECUTE FUNCTION paygate_notify_api_key_changed()
        """
    )
    op.execute(
        """
        CREATE TRIGGER api_keys_notify_delete
        AFTER DELETE ON api_keys
        FOR EACH ROW EXECUTE FUNCTION paygate_notify_api_key_changed()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER api_keys_notify_delete ON api_keys")
    op.execute("DROP TRIGGER api_keys_notify_update ON api_keys")
    op.execute("DROP FUNCTION paygate_notify_api_key_changed()")
