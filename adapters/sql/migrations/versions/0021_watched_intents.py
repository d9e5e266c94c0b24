"""Watched intents: NOTIFY payment_intent_changed only for intents someone watches.

Revision ID: 0021_watched_intents
Revises: 0020_webhook_due
Create Date: 2026-12-07

Why. 0006_watch's trigger notified every change of every intent (about three notifying
commits per payment). A notifying commit takes a database-wide lock in PreCommit_Notify
and holds it through its WAL flush, so notifying commits neither group-commit nor overlap:
they queue behind each other's fsync, and that capped the payment path. Almost no intent
is watched (a checkout page waiting for 3-D Secure or a UPI collect).

What.
- `watched_intents (intent_id, watcher, since)`, UNLOGGED: one row per intent a process
  watches; `watcher` is the backend pid of that process's LISTEN connection, `since`
  when it registered (several processes watching one intent are several rows).
- The statement trigger's function (same name, same trigger) becomes:
  1. under an isolation level other than READ COMMITTED: notify every intent of the
     statement, as before (such a transaction keeps one snapshot and could not see a
     registration made while it waited; the gateway's writes are READ COMMITTED);
  2. `pg_advisory_xact_lock_shared(WATCH_LOCK, hashtext(intent_id))` for each intent of
     the statement (in intent order);
  3. a new statement, so a new READ COMMITTED snapshot (the function is VOLATILE: each
     of its statements takes a fresh snapshot): `pg_notify` for those of the intents
     that have a row in watched_intents.
- A registration (adapters/sql/intent_changes.py), on the LISTEN connection after LISTEN:
  one autocommit statement that takes `pg_advisory_xact_lock(WATCH_LOCK,
  hashtext(intent_id))` and then inserts the row; only after it returns does the
  watcher read the intent. Unsubscribing deletes the row.

Proof that a watcher misses no change. Take a watcher W of intent I (its connection
already LISTENs, which counts for every transaction that commits afterwards), its
registration R (lock X on I's key, insert, commit), and a writer T that appends an event
about I (its trigger takes S on I's key, held until T ends). X and S conflict, so one of
them is granted first:
- T's S first: R waits until T has ended. PostgreSQL removes T from the running
  transactions before it releases T's locks, so the snapshot of W's read (taken after R
  returned) sees T's change: W's first state already includes it.
- R's X first: T waits in step 2 until R has committed. Step 3 runs after, with a new
  snapshot, so it sees R's row and T notifies; T commits after R, so after LISTEN, and the
  notification reaches W, which reads the intent again.
- T ended before R began, or R before T's trigger ran: the same two cases with no wait.
A transaction appending I's events in several statements re-checks at each; the last
check (after the lock, which it keeps) settles it as above. Rolled back writers notify
nothing and changed nothing. Locks: writers take only shared locks (they never wait on
each other); a registration holds one lock and waits on nothing while holding it, so no
deadlock. Two intents with the same hash only wait on each other's registrations.

Stale rows. A row whose watcher no longer listens only costs notifications nobody reads;
it never loses one. Rows are deleted when the watch ends, and rows whose pid is not a
backend that was running when they were registered (pid gone, or reused by a newer
backend) are reaped when a LISTEN connection connects and by the worker's
`payments.reap_watchers` job. UNLOGGED: the table is not WAL-logged; after a crash it
comes back empty, and a failover's new primary has it empty too, but either one also
ends every LISTEN connection, so every watch ends (INTERRUPTED) and registers again.

Written by hand; tests/contract/test_watched_intents_migration.py takes it up and down,
tests/contract/test_postgres_only.py compares the table with tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0021_watched_intents"
down_revision: str | None = "0020_webhook_due"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The first half of the advisory lock key of an intent's watch (the second is
# hashtext(intent id)); adapters/sql/intent_changes.py takes the same key. "WTCH".
WATCH_LOCK = 0x57544348

_NOTIFY_ALL = """
            PERFORM pg_notify('payment_intent_changed', changed.intent_id)
            FROM (SELECT DISTINCT payment_intent_id AS intent_id FROM inserted) AS changed;
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE UNLOGGED TABLE watched_intents (
            intent_id text NOT NULL,
            watcher integer NOT NULL,
            since timestamp with time zone NOT NULL,
            CONSTRAINT pk_watched_intents PRIMARY KEY (intent_id, watcher)
        )
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION paygate_notify_intent_changed() RETURNS trigger
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
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
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION paygate_notify_intent_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            {_NOTIFY_ALL}
            RETURN NULL;
        END
        $$
        """
    )
    op.execute("DROP TABLE watched_intents")
