"""Invitations can be revoked.

Revision ID: 0015_invitation_revocation
Revises: 0014_redirect_methods
Create Date: 2026-12-06

- invitations gets revoked_at: a revoked invitation's link is refused like an expired
  one. An invitation is either accepted or revoked, never both (a check constraint).
  Re-issuing an invitation (ResendInvitation) replaces token_hash and expires_at in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_invitation_revocation"
down_revision: str | None = "0014_redirect_methods"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("invitations", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_invitations_accepted_or_revoked"),
        "invitations",
        "accepted_at IS NULL OR revoked_at IS NULL",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_invitations_accepted_or_revoked"), "invitations", type_="check")
    op.drop_column("invitations", "revoked_at")
