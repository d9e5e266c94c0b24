"""Ledger: journal entries and postings (append-only), balance checkpoints, the unsettled
queue, FX rates, merchant terms, settlements and their lines, payouts, disputes and their
evidence.

Revision ID: 0005_ledger
Revises: 0004_payments
Create Date: 2026-03-10

Written by hand (docs/ledger.md, "Persistence"). A contract test compares the migrated
database with adapters/sql/tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_ledger"
down_revision: str | None = "0004_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the domain's enums at the time of this revision.
_ENTRY_KINDS = (
    "CAPTURE", "REFUND", "REFUND_SUCCEEDED", "REFUND_FAILED", "DISPUTE_OPENED", "DISPUTE_WON",
    "DISPUTE_LOST", "PAYOUT", "PAYOUT_FAILED", "FEE", "ADJUSTMENT", "RELEASE", "RESERVE_HOLD",
    "RESERVE_RELEASE", "FEE_SWEEP",
)  # fmt: skip
_BT_TYPES = ("CHARGE", "REFUND", "FEE", "PAYOUT", "DISPUTE", "ADJUSTMENT")
_PAYOUT_SCHEDULES = ("DAILY", "MANUAL")
_SETTLEMENT_STATUSES = ("PENDING", "COMPLETED")
_AUTOMATIC_PAYOUT = ("NOT_DUE", "DUE", "PAID", "SKIPPED")
_PAYOUT_STATUSES = ("IN_TRANSIT", "PAID", "FAILED")
_PAYOUT_METHODS = ("MANUAL", "AUTOMATIC")
_DISPUTE_STATUSES = ("NEEDS_RESPONSE", "UNDER_REVIEW", "WON", "LOST")
_CURRENCY = "~ '^[A-Z]{3}$'"

_APPEND_ONLY = (
    "ledger_entries",
    "ledger_postings",
    "ledger_checkpoints",
    "settlement_lines",
    "dispute_evidence",
)


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _account(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Text(collation="C"), nullable=False)


def _money(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("payment_intent_id", sa.Text(), server_default="", nullable=False),
        sa.Column("reference", sa.Text(), server_default="", nullable=False),
        sa.Column("presentment_amount", sa.BigInteger(), nullable=True),
        sa.Column("presentment_currency", sa.Text(), nullable=True),
        sa.Column("fx_base", sa.Text(), nullable=True),
        sa.Column("fx_quote", sa.Text(), nullable=True),
        sa.Column("fx_rate", sa.Numeric(), nullable=True),
        _ts("fx_as_of", nullable=True),
        sa.Column("fx_source", sa.Text(), nullable=True),
        _ts("available_on", nullable=True),
        sa.Column("related_entry_id", sa.Text(), server_default="", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        _ts("created"),
        sa.Column("bt_type", sa.Text(), nullable=True),
        sa.Column("bt_amount", sa.BigInteger(), nullable=True),
        sa.Column("bt_fee", sa.BigInteger(), nullable=True),
        sa.Column("bt_net", sa.BigInteger(), nullable=True),
        sa.Column("bt_currency", sa.Text(), nullable=True),
        _ts("bt_available_on", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
        sa.CheckConstraint(_one_of("kind", _ENTRY_KINDS), name=op.f("ck_ledger_entries_kind")),
        sa.CheckConstraint(
            f"bt_type IS NULL OR {_one_of('bt_type', _BT_TYPES)}",
            name=op.f("ck_ledger_entries_bt_type"),
        ),
        sa.CheckConstraint(
            "(bt_type IS NULL) = (bt_amount IS NULL)"
            " AND (bt_type IS NULL) = (bt_fee IS NULL)"
            " AND (bt_type IS NULL) = (bt_net IS NULL)"
            " AND (bt_type IS NULL) = (bt_currency IS NULL)"
            " AND (bt_type IS NULL) = (bt_available_on IS NULL)",
            name=op.f("ck_ledger_entries_bt_complete"),
        ),
        sa.CheckConstraint("bt_amount - bt_fee = bt_net", name=op.f("ck_ledger_entries_bt_net")),
        sa.CheckConstraint(
            f"presentment_currency {_CURRENCY}", name=op.f("ck_ledger_entries_presentment_currency")
        ),
        sa.CheckConstraint(
            "(fx_rate IS NULL) = (fx_base IS NULL) AND fx_rate > 0",
            name=op.f("ck_ledger_entries_fx_rate"),
        ),
    )
    op.create_index(
        "ix_ledger_entries_merchant_id_bt",
        "ledger_entries",
        ["merchant_id", sa.text("id DESC")],
        postgresql_where=sa.text("bt_type IS NOT NULL"),
    )
    op.create_index(
        "ix_ledger_entries_merchant_id_payment_intent_id",
        "ledger_entries",
        ["merchant_id", "payment_intent_id"],
        postgresql_where=sa.text("payment_intent_id <> ''"),
    )
    op.create_index(
        "ix_ledger_entries_merchant_id_source", "ledger_entries", ["merchant_id", "source"]
    )
    op.create_index(
        "ix_ledger_entries_merchant_id_reference",
        "ledger_entries",
        ["merchant_id", "reference"],
        postgresql_where=sa.text("reference <> ''"),
    )
    op.create_index("ix_ledger_entries_created", "ledger_entries", ["created"])

    op.create_table(
        "ledger_postings",
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        _account("account"),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column(
            "xid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
        _ts("created"),
        sa.PrimaryKeyConstraint("entry_id", "account", name="pk_ledger_postings"),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entries.id"], name="fk_ledger_postings_entry_id_ledger_entries"
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_postings_amount_not_zero")),
        sa.CheckConstraint(
            "right(account, 4) = ':' || currency", name=op.f("ck_ledger_postings_account_currency")
        ),
        sa.CheckConstraint(
            "starts_with(account, 'platform:')"
            " OR starts_with(account, 'merchant:' || merchant_id || ':')",
            name=op.f("ck_ledger_postings_account_owner"),
        ),
    )
    op.create_index(
        "ix_ledger_postings_account_xid",
        "ledger_postings",
        ["account", "xid"],
        postgresql_include=["amount"],
    )

    op.create_table(
        "ledger_checkpoints",
        _account("account"),
        sa.Column("below_xid", sa.BigInteger(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        _ts("taken_at"),
        sa.PrimaryKeyConstraint("account", "below_xid", name="pk_ledger_checkpoints"),
    )

    op.create_table(
        "ledger_unsettled",
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        _ts("available_on"),
        sa.PrimaryKeyConstraint("transaction_id", name="pk_ledger_unsettled"),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_entries.id"],
            name="fk_ledger_unsettled_transaction_id_ledger_entries",
        ),
    )
    op.create_index(
        "ix_ledger_unsettled_merchant_id_currency_available_on",
        "ledger_unsettled",
        ["merchant_id", "currency", "available_on"],
    )
    op.create_index("ix_ledger_unsettled_available_on", "ledger_unsettled", ["available_on"])

    op.create_table(
        "fx_rates",
        sa.Column("base", sa.Text(), nullable=False),
        sa.Column("quote", sa.Text(), nullable=False),
        _ts("as_of"),
        sa.Column("rate", sa.Numeric(), nullable=False),
        sa.Column("source", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("base", "quote", "as_of", name="pk_fx_rates"),
        sa.CheckConstraint("rate > 0", name=op.f("ck_fx_rates_rate_positive")),
        sa.CheckConstraint(
            f"base {_CURRENCY} AND quote {_CURRENCY} AND base <> quote",
            name=op.f("ck_fx_rates_pair"),
        ),
    )

    op.create_table(
        "merchant_terms",
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("settlement_currency", sa.Text(), nullable=False),
        sa.Column("settlement_delay_days", sa.Integer(), nullable=False),
        sa.Column("payout_schedule", sa.Text(), nullable=False),
        sa.Column("payout_minimum", sa.BigInteger(), nullable=False),
        sa.Column("pricing", postgresql.JSONB(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("merchant_id", name="pk_merchant_terms"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_merchant_terms_merchant_id_merchants"
        ),
        sa.CheckConstraint(
            f"settlement_currency {_CURRENCY}", name=op.f("ck_merchant_terms_settlement_currency")
        ),
        sa.CheckConstraint(
            "settlement_delay_days >= 0", name=op.f("ck_merchant_terms_settlement_delay_days")
        ),
        sa.CheckConstraint(
            _one_of("payout_schedule", _PAYOUT_SCHEDULES),
            name=op.f("ck_merchant_terms_payout_schedule"),
        ),
        sa.CheckConstraint("payout_minimum >= 1", name=op.f("ck_merchant_terms_payout_minimum")),
    )

    op.create_table(
        "settlements",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _ts("cutoff"),
        sa.Column("status", sa.Text(), nullable=False),
        _ts("created"),
        _ts("completed_at", nullable=True),
        sa.Column("transaction_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _money("amount"),
        _money("fee"),
        _money("net"),
        _money("released"),
        _money("fees_swept"),
        sa.Column("automatic_payout", sa.Text(), nullable=False),
        sa.Column("payout_id", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_settlements"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_settlements_merchant_id_merchants"
        ),
        sa.UniqueConstraint(
            "merchant_id", "currency", "day", name="uq_settlements_merchant_id_currency_day"
        ),
        sa.CheckConstraint(
            _one_of("status", _SETTLEMENT_STATUSES), name=op.f("ck_settlements_status")
        ),
        sa.CheckConstraint(
            _one_of("automatic_payout", _AUTOMATIC_PAYOUT),
            name=op.f("ck_settlements_automatic_payout"),
        ),
        sa.CheckConstraint("amount - fee = net", name=op.f("ck_settlements_net")),
    )
    op.create_index(
        "ix_settlements_merchant_id_id", "settlements", ["merchant_id", sa.text("id DESC")]
    )
    op.create_index(
        "ix_settlements_pending",
        "settlements",
        ["day", "id"],
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_index(
        "ix_settlements_payout_due",
        "settlements",
        ["id"],
        postgresql_where=sa.text("automatic_payout = 'DUE'"),
    )

    op.create_table(
        "settlement_lines",
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.Column("settlement_id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("exchange_rate", sa.Numeric(), nullable=True),
        _ts("created"),
        _ts("available_on"),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", name="pk_settlement_lines"),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_entries.id"],
            name="fk_settlement_lines_transaction_id_ledger_entries",
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["settlements.id"],
            name="fk_settlement_lines_settlement_id_settlements",
        ),
    )
    op.create_index(
        "ix_settlement_lines_settlement_id_transaction_id",
        "settlement_lines",
        ["settlement_id", "transaction_id"],
    )

    op.create_table(
        "payouts",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        _ts("created"),
        _ts("arrival_date"),
        sa.Column("balance_transaction_id", sa.Text(), nullable=False),
        sa.Column("settlement_id", sa.Text(), server_default="", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_payouts"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_payouts_merchant_id_merchants"
        ),
        sa.ForeignKeyConstraint(
            ["balance_transaction_id"],
            ["ledger_entries.id"],
            name="fk_payouts_balance_transaction_id_ledger_entries",
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payouts_amount_positive")),
        sa.CheckConstraint(_one_of("status", _PAYOUT_STATUSES), name=op.f("ck_payouts_status")),
        sa.CheckConstraint(_one_of("method", _PAYOUT_METHODS), name=op.f("ck_payouts_method")),
    )
    op.create_index("ix_payouts_merchant_id_id", "payouts", ["merchant_id", sa.text("id DESC")])
    op.create_index(
        "ix_payouts_in_transit",
        "payouts",
        ["arrival_date"],
        postgresql_where=sa.text("status = 'IN_TRANSIT'"),
    )

    op.create_table(
        "disputes",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("payment_intent_id", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        _ts("created"),
        _ts("evidence_due_by"),
        _ts("decide_at"),
        sa.Column("acquirer_reference", sa.Text(), nullable=False),
        sa.Column("capture_reference", sa.Text(), server_default="", nullable=False),
        _ts("evidence_submitted_at", nullable=True),
        _ts("closed_at", nullable=True),
        sa.Column("balance_transactions", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_disputes"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_disputes_merchant_id_merchants"
        ),
        sa.UniqueConstraint("acquirer_reference", name="uq_disputes_acquirer_reference"),
        sa.CheckConstraint("amount > 0", name=op.f("ck_disputes_amount_positive")),
        sa.CheckConstraint(_one_of("status", _DISPUTE_STATUSES), name=op.f("ck_disputes_status")),
    )
    op.create_index("ix_disputes_merchant_id_id", "disputes", ["merchant_id", sa.text("id DESC")])
    op.create_index(
        "ix_disputes_open_decide_at",
        "disputes",
        ["decide_at"],
        postgresql_where=sa.text("status IN ('NEEDS_RESPONSE', 'UNDER_REVIEW')"),
    )

    op.create_table(
        "dispute_evidence",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("dispute_id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        _ts("submitted_at"),
        sa.Column("evidence", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dispute_evidence"),
        sa.ForeignKeyConstraint(
            ["dispute_id"], ["disputes.id"], name="fk_dispute_evidence_dispute_id_disputes"
        ),
    )
    op.create_index("ix_dispute_evidence_dispute_id_id", "dispute_evidence", ["dispute_id", "id"])

    # The postings one INSERT statement writes must balance per entry and currency. The
    # adapter writes an entry's postings in one statement, so this is the whole entry;
    # the statement trigger reads only the rows just inserted (a transition table).
    op.execute(
        """
        CREATE FUNCTION paygate_postings_balance() RETURNS trigger
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
    )
    op.execute(
        """
        CREATE TRIGGER ledger_postings_balance
        AFTER INSERT ON ledger_postings
        REFERENCING NEW TABLE AS new_postings
        FOR EACH STATEMENT EXECUTE FUNCTION paygate_postings_balance()
        """
    )
    # History is immutable: paygate_refuse_change() comes from revision 0001.
    for table in _APPEND_ONLY:
        op.execute(
            f"""
            CREATE TRIGGER {table}_append_only
            BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION paygate_refuse_change()
            """
        )
        op.execute(
            f"""
            CREATE TRIGGER {table}_no_truncate
            BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION paygate_refuse_change()
            """
        )


def downgrade() -> None:
    for table in (
        "dispute_evidence",
        "disputes",
        "payouts",
        "settlement_lines",
        "settlements",
        "merchant_terms",
        "fx_rates",
        "ledger_unsettled",
        "ledger_checkpoints",
        "ledger_postings",
        "ledger_entries",
    ):
        op.drop_table(table)
    op.execute("DROP FUNCTION paygate_postings_balance()")
