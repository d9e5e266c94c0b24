"""Access: users, memberships, invitations, sessions and refresh tokens, the audit log,
per-merchant rate limits, and the end of a rolled API key's grace period.

Revision ID: 0002_access
Revises: 0001
Create Date: 2025-02-01

Self-contained: it depends on 0001's merchants, api_keys and paygate_refuse_change()
only, so it can be re-chained after another revision on top of 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_access"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the domain's enums at the time of this revision.
_ROLES = ("OWNER", "ADMIN", "DEVELOPER", "MANAGER", "STAFF")
_OUTCOMES = ("SUCCESS", "FAILURE", "DENIED")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("api_keys", _ts("expires_at", nullable=True))

    op.create_table(
        "users",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        _ts("created"),
        sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _ts("locked_until", nullable=True),
        _ts("last_login_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_normalized")),
        sa.CheckConstraint(
            "password_hash LIKE '$argon2id$%'", name=op.f("ck_users_password_hash_argon2id")
        ),
        sa.CheckConstraint("failed_logins >= 0", name=op.f("ck_users_failed_logins")),
    )
    op.create_index("uq_users_email", "users", ["email"], unique=True)

    op.create_table(
        "memberships",
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        _ts("created"),
        sa.PrimaryKeyConstraint("merchant_id", "user_id", name="pk_memberships"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_memberships_merchant_id_merchants"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_memberships_user_id_users"),
        sa.CheckConstraint(_one_of("role", _ROLES), name=op.f("ck_memberships_role")),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])

    op.create_table(
        "invitations",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("invited_by", sa.Text(), nullable=False),
        _ts("created"),
        _ts("expires_at"),
        _ts("accepted_at", nullable=True),
        sa.Column("accepted_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_invitations"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_invitations_merchant_id_merchants"
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by"], ["users.id"], name="fk_invitations_accepted_by_users"
        ),
        sa.CheckConstraint(_one_of("role", _ROLES), name=op.f("ck_invitations_role")),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_invitations_email_normalized")),
        sa.CheckConstraint(
            "octet_length(token_hash) = 32", name=op.f("ck_invitations_token_hash_sha256")
        ),
        sa.CheckConstraint(
            "(accepted_at IS NULL) = (accepted_by IS NULL)", name=op.f("ck_invitations_accepted")
        ),
    )
    op.create_index("uq_invitations_token_hash", "invitations", ["token_hash"], unique=True)
    op.create_index(
        "ix_invitations_merchant_id_id", "invitations", ["merchant_id", sa.text("id DESC")]
    )

    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        _ts("created"),
        _ts("expires_at"),
        _ts("revoked_at", nullable=True),
        sa.Column("revoke_reason", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_auth_sessions"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_auth_sessions_user_id_users"),
    )
    op.create_index("ix_auth_sessions_user_id", "auth_sessions", ["user_id"])

    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("session_id", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        _ts("issued_at"),
        _ts("expires_at"),
        _ts("used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_refresh_tokens"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["auth_sessions.id"], name="fk_refresh_tokens_session_id_auth_sessions"
        ),
        sa.CheckConstraint(
            "octet_length(token_hash) = 32", name=op.f("ck_refresh_tokens_token_hash_sha256")
        ),
    )
    op.create_index("uq_refresh_tokens_token_hash", "refresh_tokens", ["token_hash"], unique=True)
    op.create_index("ix_refresh_tokens_session_id", "refresh_tokens", ["session_id"])

    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        _ts("occurred_at"),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("origin", sa.Text(), server_default="", nullable=False),
        sa.Column("merchant_id", sa.Text(), nullable=True),
        sa.Column("target", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "details", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
        sa.CheckConstraint(_one_of("outcome", _OUTCOMES), name=op.f("ck_audit_events_outcome")),
    )
    op.create_index(
        "ix_audit_events_merchant_id_id", "audit_events", ["merchant_id", sa.text("id DESC")]
    )
    op.create_index("ix_audit_events_actor_id", "audit_events", ["actor", sa.text("id DESC")])
    op.create_index("ix_audit_events_target_id", "audit_events", ["target", sa.text("id DESC")])
    # The audit trail is evidence: paygate_refuse_change() (0001) refuses every change.
    op.execute(
        """
        CREATE TRIGGER audit_events_append_only
        BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION paygate_refuse_change()
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_events_no_truncate
        BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION paygate_refuse_change()
        """
    )

    op.create_table(
        "rate_limit_overrides",
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("route_class", sa.Text(), nullable=False),
        sa.Column("limits", postgresql.ARRAY(sa.Text()), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("merchant_id", "route_class", name="pk_rate_limit_overrides"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_rate_limit_overrides_merchant_id_merchants"
        ),
        sa.CheckConstraint(
            "cardinality(limits) BETWEEN 1 AND 4", name=op.f("ck_rate_limit_overrides_limits")
        ),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_overrides")
    op.drop_table("audit_events")
    op.drop_table("refresh_tokens")
    op.drop_table("auth_sessions")
    op.drop_table("invitations")
    op.drop_table("memberships")
    op.drop_table("users")
    op.drop_column("api_keys", "expires_at")
