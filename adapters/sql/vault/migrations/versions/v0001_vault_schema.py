"""The vault's schema: data keys, tokens, payment methods, the detokenization audit.

Revision ID: vault_0001
Revises:
Create Date: 2026-11-23

Written by hand, in the vault's own migration chain (adapters/sql/vault/migrate.py: its
own Alembic environment and version table vault.alembic_version), so that the vault can
be migrated alone in a database of its own. A contract test compares the migrated schema
with adapters/sql/vault/tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "vault_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "vault"
# Frozen copies of the domain's enums at the time of this revision.
_TOKEN_STATUSES = ("ACTIVE", "USED", "EXPIRED", "REVOKED")
_METHOD_STATUSES = ("ACTIVE", "REVOKED")
_OUTCOMES = ("GRANTED", "DENIED")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _card(table: str) -> list[sa.schema.SchemaItem]:
    """Card summary, sealed card and the checks the two card tables share."""
    return [
        sa.Column("brand", sa.Text(), nullable=False),
        sa.Column("last4", sa.Text(), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("funding", sa.Text(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("key_id", sa.Text(), nullable=True),
        sa.Column("key_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"], [f"{S}.data_keys.id"], name=f"fk_{table}_key_id_data_keys"
        ),
        sa.CheckConstraint("last4 ~ '^[0-9]{4}$'", name=f"ck_{table}_last4"),
        sa.CheckConstraint("exp_month BETWEEN 1 AND 12", name=f"ck_{table}_exp_month"),
        sa.CheckConstraint(
            "(ciphertext IS NULL) = (key_id IS NULL)"
            " AND (ciphertext IS NULL) = (key_version IS NULL)",
            name=f"ck_{table}_key_with_ciphertext",
        ),
        sa.CheckConstraint(
            "(status = 'ACTIVE') = (ciphertext IS NOT NULL)",
            name=f"ck_{table}_sealed_while_active",
        ),
    ]


def upgrade() -> None:
    # The schema itself is created by env.py (the version table lives in it).
    op.create_table(
        "data_keys",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.Text(), nullable=False),
        _ts("created"),
        sa.Column("encryptions", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        _ts("retired_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_data_keys"),
        sa.UniqueConstraint("merchant_id", "version", name="uq_data_keys_merchant_id_version"),
        sa.CheckConstraint("version >= 1", name="ck_data_keys_version"),
        sa.CheckConstraint("encryptions >= 0", name="ck_data_keys_encryptions"),
        schema=S,
    )
    op.create_index("ix_data_keys_kek_id", "data_keys", ["kek_id"], schema=S)

    op.create_table(
        "tokens",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        *_card("tokens"),
        sa.Column("status", sa.Text(), nullable=False),
        _ts("created"),
        _ts("expires_at"),
        _ts("used_at", nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.CheckConstraint(_one_of("status", _TOKEN_STATUSES), name="ck_tokens_status"),
        sa.CheckConstraint("version >= 1", name="ck_tokens_version"),
        schema=S,
    )
    op.create_index(
        "ix_tokens_merchant_id_id", "tokens", ["merchant_id", sa.text("id DESC")], schema=S
    )
    op.create_index(
        "ix_tokens_expires_at",
        "tokens",
        ["expires_at"],
        schema=S,
        postgresql_where=sa.text("status = 'ACTIVE'"),
    )
    op.create_index(
        "ix_tokens_merchant_id_key_id",
        "tokens",
        ["merchant_id", "key_id"],
        schema=S,
        postgresql_where=sa.text("ciphertext IS NOT NULL"),
    )

    op.create_table(
        "payment_methods",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("customer_id", sa.Text(), server_default="", nullable=False),
        *_card("payment_methods"),
        sa.Column("status", sa.Text(), nullable=False),
        _ts("created"),
        _ts("revoked_at", nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_methods"),
        sa.CheckConstraint(_one_of("status", _METHOD_STATUSES), name="ck_payment_methods_status"),
        sa.CheckConstraint(
            "(status = 'REVOKED') = (revoked_at IS NOT NULL)", name="ck_payment_methods_revoked_at"
        ),
        sa.CheckConstraint("version >= 1", name="ck_payment_methods_version"),
        schema=S,
    )
    op.create_index(
        "ix_payment_methods_merchant_id_id",
        "payment_methods",
        ["merchant_id", sa.text("id DESC")],
        schema=S,
    )
    op.create_index(
        "ix_payment_methods_merchant_id_customer_id_id",
        "payment_methods",
        ["merchant_id", "customer_id", sa.text("id DESC")],
        schema=S,
    )
    op.create_index(
        "ix_payment_methods_merchant_id_fingerprint",
        "payment_methods",
        ["merchant_id", "fingerprint"],
        schema=S,
    )
    op.create_index(
        "ix_payment_methods_merchant_id_key_id",
        "payment_methods",
        ["merchant_id", "key_id"],
        schema=S,
        postgresql_where=sa.text("ciphertext IS NOT NULL"),
    )

    op.create_table(
        "detokenization_audit",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("payment_method", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        _ts("occurred_at"),
        sa.PrimaryKeyConstraint("id", name="pk_detokenization_audit"),
        sa.CheckConstraint(_one_of("outcome", _OUTCOMES), name="ck_detokenization_audit_outcome"),
        schema=S,
    )
    op.create_index(
        "ix_detokenization_audit_merchant_id_payment_method_id",
        "detokenization_audit",
        ["merchant_id", "payment_method", "id"],
        schema=S,
    )
    op.create_index(
        "ix_detokenization_audit_occurred_at",
        "detokenization_audit",
        ["occurred_at"],
        schema=S,
    )

    # The audit trail is immutable: a row trigger refuses UPDATE and DELETE, a statement
    # trigger TRUNCATE. The function is the vault's own: in split mode the vault's
    # database has none of the other contexts' objects.
    op.execute(
        f"""
        CREATE FUNCTION {S}.refuse_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER detokenization_audit_append_only
        BEFORE UPDATE OR DELETE ON {S}.detokenization_audit
        FOR EACH ROW EXECUTE FUNCTION {S}.refuse_change()
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER detokenization_audit_no_truncate
        BEFORE TRUNCATE ON {S}.detokenization_audit
        FOR EACH STATEMENT EXECUTE FUNCTION {S}.refuse_change()
        """
    )


def downgrade() -> None:
    op.drop_table("detokenization_audit", schema=S)
    op.execute(f"DROP FUNCTION {S}.refuse_change()")
    op.drop_table("payment_methods", schema=S)
    op.drop_table("tokens", schema=S)
    op.drop_table("data_keys", schema=S)
