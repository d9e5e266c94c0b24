"""A held chain's statement undone when its gate wrote nothing.

Revision ID: 0023_chain_abort
Revises: 0022_created_unwatched
Create Date: 2026-12-07

Why. A confirm's phase 1 is sent as one statement alone (adapters/sql/held.py): the
Idempotency-Key's claim, the attempt written with its intent at the version the load
read, the outbox's event with its deliveries. Two of its writes may write nothing: the
claim (the key taken) and the intent's versioned update (the intent moved). The update
is guarded by the claim, so a lost claim writes nothing at all; but a claim that wrote
while the update did not must not stay written.

What. `paygate_chain_gate(wrote boolean)` returns `wrote` when true and otherwise raises
SQLSTATE PGH01 (a code of the project's own, in no class PostgreSQL uses). The statement's
final SELECT calls it with `EXISTS (SELECT FROM <the gate's CTE>)`: raised, PostgreSQL
undoes the whole statement, the claim with it, and the unit of work, recognizing exactly
that SQLSTATE, sends the writes one by one in a transaction as before. Down drops it.

Tests: tests/contract/test_chain_abort_migration.py takes it up and down;
tests/contract/test_confirm_phase_statements.py runs the phase at head.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0023_chain_abort"
down_revision: str | None = "0022_created_unwatched"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION paygate_chain_gate(wrote boolean) RETURNS boolean
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            IF wrote IS NOT TRUE THEN
                RAISE EXCEPTION 'a held chain''s gate wrote nothing: the statement is undone'
                    USING ERRCODE = 'PGH01';
            END IF;
            RETURN wrote;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION paygate_chain_gate(boolean)")
