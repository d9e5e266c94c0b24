"""Test money and live money are two books.

Revision ID: 0016_ledger_mode
Revises: 0015_invitation_revocation
Create Date: 2026-12-06

- Accounts are per mode: a live account's code is the test code behind `live:`
  (`live:merchant:acct_..:available:USD`, `live:platform:fx:EUR`); the posting owner check
  accepts both. The postings trigger checks each entry balances per currency AND per mode.
- `livemode` on ledger_entries, ledger_unsettled, settlements, payouts, disputes and
  refunds; the list indexes lead with (merchant_id, livemode); a settlement is unique per
  (merchant, currency, day, mode); the analytics index has livemode after merchant_id.
- payment_attempts gets `livemode` (the intent's) and `decline_code` (the error's decline
  code, else its code: what analytics' decline reasons group by, read from the JSON
  before); the two analytics indexes lead with (merchant_id, livemode, currency, created)
  and the failed attempts' one INCLUDEs decline_code, so both are index-only scans.
- Backfill: a row takes the mode of its payment intent where it has one (entries, refunds,
  disputes); every other row is test. Before this revision the book was one, so the entries
  without an intent (settlement releases and fee sweeps, payouts, fees, adjustments) cannot
  be split between modes after the fact; they stay in the test book, where the book had
  always been shown. The live entries' postings move to the live accounts (their codes are
  rewritten, the append-only triggers paused for it) and the checkpoints of the accounts
  they touched are dropped: the next checkpoint run takes them again from the postings.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_ledger_mode"
down_revision: str | None = "0015_invitation_revocation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MODED = ("ledger_entries", "ledger_unsettled", "settlements", "payouts", "disputes", "refunds")

_OWNER_BEFORE = (
    "starts_with(account, 'platform:') OR starts_with(account, 'merchant:' || merchant_id || ':')"
)
_OWNER_AFTER = (
    _OWNER_BEFORE + " OR starts_with(account, 'live:platform:')"
    " OR starts_with(account, 'live:merchant:' || merchant_id || ':')"
)

_BALANCE_PER_MODE = """
    CREATE OR REPLACE FUNCTION paygate_postings_balance() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
    BEGIN
        SELECT entry_id, currency, starts_with(account, 'live:') AS live,
               sum(amount) AS total INTO bad
        FROM new_postings GROUP BY 1, 2, 3 HAVING sum(amount) <> 0 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'journal entry % does not balance in %: %', bad.entry_id,
                bad.currency || CASE WHEN bad.live THEN ' (live)' ELSE '' END, bad.total
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END
    $$
"""

_BALANCE_PER_CURRENCY = """
    CREATE OR REPLACE FUNCTION paygate_postings_balance() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
    BEGIN
        SELECT entry_id, currency, sum(amount) AS total INTO bad
        FROM new_postings GROUP BY entry_id, currency HAVING sum(amount) <> 0 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'journal entry % does not balance in %: %',
                bad.entry_id, bad.currency, bad.total
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END
    $$
"""


def upgrade() -> None:
    for table in _MODED:
        op.add_column(
            table, sa.Column("livemode", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    # Backfill from the intents. ledger_entries is append-only: its triggers are paused
    # for the one statement that sets the mode, in this migration's transaction.
    op.execute("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only")
    op.execute(
        """
        UPDATE ledger_entries e SET livemode = true
        FROM payment_intents i
        WHERE i.id = e.payment_intent_id AND i.merchant_id = e.merchant_id AND i.livemode
        """
    )
    op.execute("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only")
    for table in ("refunds", "disputes"):
        op.execute(
            f"""
            UPDATE {table} r SET livemode = true
            FROM payment_intents i
            WHERE i.id = r.payment_intent_id AND i.merchant_id = r.merchant_id AND i.livemode
            """
        )
    op.execute(
        """
        UPDATE ledger_unsettled u SET livemode = true
        FROM ledger_entries e WHERE e.id = u.transaction_id AND e.livemode
        """
    )

    op.drop_constraint(op.f("ck_ledger_postings_account_owner"), "ledger_postings", type_="check")
    op.execute("ALTER TABLE ledger_checkpoints DISABLE TRIGGER ledger_checkpoints_append_only")
    op.execute(
        """
        DELETE FROM ledger_checkpoints k
        WHERE k.account IN (
            SELECT DISTINCT p.account FROM ledger_postings p
            JOIN ledger_entries e ON e.id = p.entry_id WHERE e.livemode
        )
        """
    )
    op.execute("ALTER TABLE ledger_checkpoints ENABLE TRIGGER ledger_checkpoints_append_only")
    op.execute("ALTER TABLE ledger_postings DISABLE TRIGGER ledger_postings_append_only")
    op.execute(
        """
        UPDATE ledger_postings p SET account = 'live:' || p.account
        FROM ledger_entries e WHERE e.id = p.entry_id AND e.livemode
        """
    )
    op.execute("ALTER TABLE ledger_postings ENABLE TRIGGER ledger_postings_append_only")
    op.create_check_constraint(
        op.f("ck_ledger_postings_account_owner"), "ledger_postings", _OWNER_AFTER
    )
    op.execute(_BALANCE_PER_MODE)

    op.drop_constraint(
        op.f("uq_settlements_merchant_id_currency_day"), "settlements", type_="unique"
    )
    op.create_unique_constraint(
        op.f("uq_settlements_merchant_id_currency_day_livemode"),
        "settlements",
        ["merchant_id", "currency", "day", "livemode"],
    )
    _reindex(
        "ledger_entries",
        "ix_ledger_entries_merchant_id_bt",
        "ix_ledger_entries_merchant_id_livemode_bt",
        ["merchant_id", "livemode", sa.text("id DESC")],
        where="bt_type IS NOT NULL",
    )
    op.drop_index("ix_ledger_entries_analytics", table_name="ledger_entries")
    op.create_index(
        "ix_ledger_entries_analytics",
        "ledger_entries",
        ["merchant_id", "livemode", "bt_currency", "created"],
        postgresql_include=["bt_type", "bt_amount", "bt_fee", "bt_net"],
        postgresql_where=sa.text("bt_type IS NOT NULL"),
    )
    _reindex(
        "ledger_unsettled",
        "ix_ledger_unsettled_merchant_id_currency_available_on",
        "ix_ledger_unsettled_merchant_id_currency_livemode_available_on",
        ["merchant_id", "currency", "livemode", "available_on"],
    )
    for table in ("settlements", "payouts", "disputes", "refunds"):
        _reindex(
            table,
            f"ix_{table}_merchant_id_id",
            f"ix_{table}_merchant_id_livemode_id",
            ["merchant_id", "livemode", sa.text("id DESC")],
        )
    _attempts_upgrade()


def _attempts_upgrade() -> None:
    op.add_column(
        "payment_attempts",
        sa.Column("livemode", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "payment_attempts",
        sa.Column("decline_code", sa.Text(), nullable=False, server_default=""),
    )
    op.execute(
        """
        UPDATE payment_attempts a SET livemode = true
        FROM payment_intents i
        WHERE i.id = a.payment_intent_id AND i.merchant_id = a.merchant_id AND i.livemode
        """
    )
    # What the decline reasons grouped by, computed from the JSON until now.
    op.execute(
        """
        UPDATE payment_attempts SET decline_code = coalesce(
            nullif(error->>'decline_code', ''), nullif(error->>'code', ''), '')
        WHERE error IS NOT NULL
        """
    )
    op.drop_index("ix_payment_attempts_analytics", table_name="payment_attempts")
    op.create_index(
        "ix_payment_attempts_analytics",
        "payment_attempts",
        ["merchant_id", "livemode", "currency", "created"],
        postgresql_include=["status", "amount_authorized"],
    )
    op.drop_index("ix_payment_attempts_failed", table_name="payment_attempts")
    op.create_index(
        "ix_payment_attempts_failed",
        "payment_attempts",
        ["merchant_id", "livemode", "currency", "created"],
        postgresql_include=["decline_code"],
        postgresql_where=sa.text("status = 'FAILED'"),
    )


def _attempts_downgrade() -> None:
    op.drop_index("ix_payment_attempts_failed", table_name="payment_attempts")
    op.create_index(
        "ix_payment_attempts_failed",
        "payment_attempts",
        ["merchant_id", "currency", "created"],
        postgresql_where=sa.text("status = 'FAILED'"),
    )
    op.drop_index("ix_payment_attempts_analytics", table_name="payment_attempts")
    op.create_index(
        "ix_payment_attempts_analytics",
        "payment_attempts",
        ["merchant_id", "currency", "created"],
        postgresql_include=["status", "amount_authorized"],
    )
    op.drop_column("payment_attempts", "decline_code")
    op.drop_column("payment_attempts", "livemode")


def _reindex(
    table: str, old: str, new: str, columns: list[str | sa.TextClause], where: str = ""
) -> None:
    op.drop_index(old, table_name=table)
    op.create_index(new, table, columns, postgresql_where=sa.text(where) if where else None)


def downgrade() -> None:
    _attempts_downgrade()
    for table in ("settlements", "payouts", "disputes", "refunds"):
        _reindex(
            table,
            f"ix_{table}_merchant_id_livemode_id",
            f"ix_{table}_merchant_id_id",
            ["merchant_id", sa.text("id DESC")],
        )
    _reindex(
        "ledger_unsettled",
        "ix_ledger_unsettled_merchant_id_currency_livemode_available_on",
        "ix_ledger_unsettled_merchant_id_currency_available_on",
        ["merchant_id", "currency", "available_on"],
    )
    op.drop_index("ix_ledger_entries_analytics", table_name="ledger_entries")
    op.create_index(
        "ix_ledger_entries_analytics",
        "ledger_entries",
        ["merchant_id", "bt_currency", "created"],
        postgresql_include=["bt_type", "bt_amount", "bt_fee", "bt_net"],
        postgresql_where=sa.text("bt_type IS NOT NULL"),
    )
    _reindex(
        "ledger_entries",
        "ix_ledger_entries_merchant_id_livemode_bt",
        "ix_ledger_entries_merchant_id_bt",
        ["merchant_id", sa.text("id DESC")],
        where="bt_type IS NOT NULL",
    )
    op.drop_constraint(
        op.f("uq_settlements_merchant_id_currency_day_livemode"), "settlements", type_="unique"
    )
    op.create_unique_constraint(
        op.f("uq_settlements_merchant_id_currency_day"),
        "settlements",
        ["merchant_id", "currency", "day"],
    )
    # The two books fold back into one: live codes lose their prefix, their checkpoints go.
    op.execute(_BALANCE_PER_CURRENCY)
    op.drop_constraint(op.f("ck_ledger_postings_account_owner"), "ledger_postings", type_="check")
    for table in ("ledger_checkpoints", "ledger_postings"):
        op.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
    op.execute("DELETE FROM ledger_checkpoints WHERE starts_with(account, 'live:')")
    op.execute(
        """
        DELETE FROM ledger_checkpoints WHERE account IN (
            SELECT DISTINCT substr(account, 6) FROM ledger_postings
            WHERE starts_with(account, 'live:')
        )
        """
    )
    op.execute(
        "UPDATE ledger_postings SET account = substr(account, 6)"
        " WHERE starts_with(account, 'live:')"
    )
    for table in ("ledger_checkpoints", "ledger_postings"):
        op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
    op.create_check_constraint(
        op.f("ck_ledger_postings_account_owner"), "ledger_postings", _OWNER_BEFORE
    )
    for table in _MODED:
        op.drop_column(table, "livemode")
