"""The vault's tables, in the PostgreSQL schema `vault` (see docs/vault.md).

Nothing outside the vault reads these tables, and nothing in them is in clear but the
card summary that may leave the vault anyway (brand, last four, expiry, fingerprint).
Ciphertexts are AES-256-GCM (adapters/crypto/aes_gcm.py); `key_id`/`key_version` repeat
their header so that the re-encryption job finds rows under old keys with an index.

The migrations in migrations/versions/ create the same schema by hand; a contract test
compares the migrated database with this metadata so the two cannot drift.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from adapters.sql.schema import NAMING_CONVENTION, one_of, timestamp
from core.vault.model import DetokenizationOutcome, PaymentMethodStatus, TokenStatus

SCHEMA = "vault"

metadata = MetaData(
    schema=SCHEMA,
    naming_convention=NAMING_CONVENTION,
)


def _card_summary() -> list[Column[object]]:
    return [
        Column("brand", Text, nullable=False),
        Column("last4", Text, nullable=False),
        Column("exp_month", Integer, nullable=False),
        Column("exp_year", Integer, nullable=False),
        Column("fingerprint", Text, nullable=False),
        Column("funding", Text, nullable=False),
        Column("country", Text, nullable=False),
    ]


def _sealed_card() -> list[Column[object]]:
    return [
        Column("ciphertext", LargeBinary, nullable=True),
        Column("key_id", Text, ForeignKey(f"{SCHEMA}.data_keys.id"), nullable=True),
        Column("key_version", Integer, nullable=True),
    ]


# Checks both card tables share: the summary is well-formed, and a ciphertext always
# comes with the key columns that name its key (and is there exactly while ACTIVE).
_SUMMARY_CHECKS = (
    ("last4 ~ '^[0-9]{4}$'", "last4"),
    ("exp_month BETWEEN 1 AND 12", "exp_month"),
    ("(ciphertext IS NULL) = (key_id IS NULL) AND (ciphertext IS NULL) = (key_version IS NULL)",
     "key_with_ciphertext"),
    ("(status = 'ACTIVE') = (ciphertext IS NOT NULL)", "sealed_while_active"),
)  # fmt: skip

data_keys = Table(
    "data_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("kek_id", Text, nullable=False),
    timestamp("created"),
    Column("encryptions", BigInteger, nullable=False, server_default=text("0")),
    timestamp("retired_at", nullable=True),
    UniqueConstraint("merchant_id", "version"),
    CheckConstraint("version >= 1", name="version"),
    CheckConstraint("encryptions >= 0", name="encryptions"),
    Index("ix_data_keys_kek_id", "kek_id"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, nullable=False),
    Column("livemode", Boolean, nullable=False),
    *_card_summary(),
    *_sealed_card(),
    Column("status", Text, nullable=False),
    timestamp("created"),
    timestamp("expires_at"),
    timestamp("used_at", nullable=True),
    Column("version", Integer, nullable=False, server_default=text("1")),
    CheckConstraint(one_of("status", [s.value for s in TokenStatus]), name="status"),
    *(CheckConstraint(sql, name=name) for sql, name in _SUMMARY_CHECKS),
    CheckConstraint("version >= 1", name="version"),
    Index("ix_tokens_merchant_id_id", "merchant_id", text("id DESC")),
    # The expiry sweep and the re-encryption job only look at rows that hold a card.
    Index("ix_tokens_expires_at", "expires_at", postgresql_where=text("status = 'ACTIVE'")),
    Index(
        "ix_tokens_merchant_id_key_id",
        "merchant_id",
        "key_id",
        postgresql_where=text("ciphertext IS NOT NULL"),
    ),
)

payment_methods = Table(
    "payment_methods",
    metadata,
    Column("id", Text, primary_key=True),
    Column("merchant_id", Text, nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("customer_id", Text, nullable=False, server_default=""),
    *_card_summary(),
    *_sealed_card(),
    Column("status", Text, nullable=False),
    timestamp("created"),
    timestamp("revoked_at", nullable=True),
    Column("version", Integer, nullable=False, server_default=text("1")),
    CheckConstraint(one_of("status", [s.value for s in PaymentMethodStatus]), name="status"),
    *(CheckConstraint(sql, name=name) for sql, name in _SUMMARY_CHECKS),
    CheckConstraint("(status = 'REVOKED') = (revoked_at IS NOT NULL)", name="revoked_at"),
    CheckConstraint("version >= 1", name="version"),
    Index("ix_payment_methods_merchant_id_id", "merchant_id", text("id DESC")),
    Index(
        "ix_payment_methods_merchant_id_customer_id_id",
        "merchant_id",
        "customer_id",
        text("id DESC"),
    ),
    Index("ix_payment_methods_merchant_id_fingerprint", "merchant_id", "fingerprint"),
    Index(
        "ix_payment_methods_merchant_id_key_id",
        "merchant_id",
        "key_id",
        postgresql_where=text("ciphertext IS NOT NULL"),
    ),
)

# Append-only: triggers installed by the migration refuse UPDATE, DELETE and TRUNCATE.
detokenization_audit = Table(
    "detokenization_audit",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("merchant_id", Text, nullable=False),
    Column("payment_method", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    timestamp("occurred_at"),
    CheckConstraint(one_of("outcome", [o.value for o in DetokenizationOutcome]), name="outcome"),
    Index(
        "ix_detokenization_audit_merchant_id_payment_method_id",
        "merchant_id",
        "payment_method",
        "id",
    ),
    Index("ix_detokenization_audit_occurred_at", "occurred_at"),
)

APPEND_ONLY_TABLES = ("detokenization_audit",)
VAULT_TABLES = tuple(t.name for t in metadata.sorted_tables)
