"""Created intents unwatched: an intent's first history line notifies nobody.

Revision ID: 0022_created_unwatched
Revises: 0021_watched_intents
Create Date: 2026-12-07

Why. Every create ran the watch's statement trigger (0021_watched_intents) in full: the
shared advisory lock of the new intent, the DISTINCT over the inserted lines, the probe
of watched_intents. About 45 microseconds of PostgreSQL's CPU per create (tests' embedded
server, `track_functions`), a tenth of the create's statement, for an answer known in
advance: nobody.

Proof that nobody can be waiting for it. A watch reads the intent before it registers
(core/payments/watch.py: `get`, then `subscribe`; the registration is step 1 of the
protocol in docs/payments.md). The read finds the intent only once the transaction that
created it has committed; until then the watch ends with NOT_FOUND and never registers.
So when the trigger of the statement that inserts an intent's first line (the line with
no `from_status`, written only by PaymentIntent.create, in the intent's own transaction)
runs, no watcher of that intent is registered or can be: the registration lock and the
probe decide nothing. A line with a `from_status` (every later change) is handled exactly
as before, and a statement with both kinds handles every line as before.

What. The function (same name, same trigger) returns at once when every line of the
statement has no `from_status`; otherwise it runs 0021's body unchanged. Down restores
0021's function.

Tests: tests/contract/test_created_unwatched_migration.py takes it up and down; the watch's
contract tests (tests/contract/test_intent_changes_contract.py) run at head.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0022_created_unwatched"
down_revision: str | None = "0021_watched_intents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0021_watched_intents' WATCH_LOCK: the first half of an intent's watch lock key.
WATCH_LOCK = 0x57544348

_NOTIFY_ALL = """
            PERFORM pg_notify('payment_intent_changed', changed.intent_id)
            FROM (SELECT DISTINCT payment_intent_id AS intent_id FROM inserted) AS changed;
"""

# 0021's body, after the early return of up().
_WATCHED_ONLY = f"""
            IF current_setting('transaction_isolation') <> 'read committed' THEN
                -- One snapshot for the whole transaction: it could not see a registration
                -- made while it waited below. Tell every intent, as before.
                {_NOTIFY_ALL}
                RETURN NULL;
            END IF;
            -- Registrations of these intents wait for this transaction from here on, and
            -- this one waits for those already under way.
            PERFORM pg_advisory_xact_lock_shared({WATCH_LOCK}, hashtext(changed.intent_id))
            FROM (SELECT DISTINCT payment_intent_id AS intent_id FROM inserted
                  ORDER BY 1) AS changed;
            -- A new statement: a new snapshot, which sees every registration committed
            -- before the locks above were granted.
            PERFORM pg_notify('payment_intent_changed', changed.intent_id)
            FROM (SELECT DISTINCT payment_intent_id AS intent_id FROM inserted) AS changed
            WHERE EXISTS (
                SELECT FROM watched_intents w WHERE w.intent_id = changed.intent_id
            );
            RETURN NULL;
"""


def _function(body: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION paygate_notify_intent_changed() RETURNS trigger
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            {body}
        END
        $$
        """


def upgrade() -> None:
    op.execute(
        _function(
            """
            IF NOT EXISTS (SELECT FROM inserted WHERE from_status IS NOT NULL) THEN
                -- Only intents' first lines (creates): no watch can have registered an
                -- intent before the transaction that creates it commits.
                RETURN NULL;
            END IF;
            """
            + _WATCHED_ONLY
        )
    )


def downgrade() -> None:
    op.execute(_function(_WATCHED_ONLY))
