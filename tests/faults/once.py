"""Nothing processed twice, whichever process did it: counted at the acquirer (its books
journal), in the ledger, in the outbox, at the webhook endpoint and in the batch jobs'
rows. Each check returns its violations (empty when it holds) and adds what it counted
to `counted`, so that a run reports all of them at once and its figures.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core.payments.acquirer import OperationStatus
from sandbox.acquirer.books_journal import Books, BooksJournal
from tests.e2e.gateway import Gateway
from tests.faults import invariants
from tests.faults.invariants import rows
from tests.webhook_receiver import Receiver


def acquirer_journals(data_dir: Path) -> dict[str, Books]:
    """The acquirer role's books as its journals hold them: name -> books."""
    directory = data_dir / "acquirer"
    return {
        path.stem: BooksJournal(directory, path.stem).read() for path in directory.glob("*.jsonl")
    }


async def at_the_acquirer(
    connection: AsyncConnection, data_dir: Path, counted: Counter[str]
) -> list[str]:
    """Each attempt authorized once, each capture and refund sent once: the acquirer's
    books hold no operation reference twice, and what it captured and refunded per attempt
    is what our rows say."""
    ours = {
        row.id: row
        for row in await rows(
            connection, "SELECT id, amount_captured, captures FROM payment_attempts"
        )
    }
    refunded = {
        row.attempt_id: (int(row.total), int(row.n))
        for row in await rows(
            connection,
            "SELECT attempt_id, sum(amount) AS total, count(*) AS n FROM refunds"
            " WHERE status = 'SUCCEEDED' GROUP BY attempt_id",
        )
    }
    problems: list[str] = []
    for key in ("attempts", "captures", "refunds", "settlement records"):
        counted[f"{key} at the acquirer"] = 0
    for name, books in acquirer_journals(data_dir).items():
        settled = Counter((r.kind, r.reference) for r in books.settlement)
        problems += [f"{name}: {key} settled {n} times" for key, n in settled.items() if n > 1]
        counted["settlement records at the acquirer"] += len(books.settlement)
        for reference, state in books.attempts.items():
            counted["attempts at the acquirer"] += 1
            captures = [c for c in state.captures if c.status is OperationStatus.SUCCEEDED]
            refunds = [r for r in state.refunds if r.status is OperationStatus.SUCCEEDED]
            counted["captures at the acquirer"] += len(captures)
            counted["refunds at the acquirer"] += len(refunds)
            for kind, operations in (("capture", state.captures), ("refund", state.refunds)):
                twice = Counter(o.reference for o in operations) - Counter(
                    {o.reference: 1 for o in operations}
                )
                problems += [f"{name} {reference}: {kind} {r} twice" for r in twice]
            attempt = ours.get(reference)
            if attempt is None:
                problems.append(f"{name} {reference}: at the acquirer, not in payment_attempts")
                continue
            captured = sum(c.amount.amount for c in captures)
            if (captured, len(captures)) != (attempt.amount_captured, attempt.captures):
                problems.append(
                    f"{reference}: the acquirer captured {captured} in {len(captures)},"
                    f" we {attempt.amount_captured} in {attempt.captures}"
                )
            there = (sum(r.amount.amount for r in refunds), len(refunds))
            if there != refunded.get(reference, (0, 0)):
                problems.append(
                    f"{reference}: the acquirer refunded {there}, we {refunded.get(reference)}"
                )
    return problems


# A money movement is one entry: by kind, what it is about (the intent, refund, dispute,
# payout or settlement) and its reference (a capture's): never two.
LEDGER_TWICE = """
SELECT kind || ' ' || source || ' ' || reference || ': posted ' || count(*) || ' times'
  FROM ledger_entries
 WHERE kind IN ('CAPTURE', 'REFUND', 'REFUND_SUCCEEDED', 'REFUND_FAILED', 'DISPUTE_OPENED',
                'DISPUTE_WON', 'DISPUTE_LOST', 'PAYOUT', 'PAYOUT_FAILED', 'RELEASE',
                'FEE_SWEEP')
 GROUP BY kind, source, reference HAVING count(*) > 1
UNION ALL
SELECT 'refund ' || source || ': both succeeded and failed in the ledger'
  FROM ledger_entries WHERE kind IN ('REFUND_SUCCEEDED', 'REFUND_FAILED')
 GROUP BY source HAVING count(DISTINCT kind) > 1
"""

# What the ledger captured and refunded is what the payments' rows say.
LEDGER_VS_PAYMENTS = """
SELECT 'intent ' || i.id || ': received ' || i.amount_received || ', in the ledger '
       || coalesce(e.total, 0)
  FROM payment_intents i
  LEFT JOIN (SELECT payment_intent_id, sum(presentment_amount) AS total FROM ledger_entries
              WHERE kind = 'CAPTURE' GROUP BY payment_intent_id) e
    ON e.payment_intent_id = i.id
 WHERE i.amount_received <> coalesce(e.total, 0)
UNION ALL
SELECT 'refund ' || r.id || ' ' || r.status || ': in the ledger ' || count(e.id) || ' times'
  FROM refunds r LEFT JOIN ledger_entries e ON e.kind = 'REFUND' AND e.source = r.id
 GROUP BY r.id, r.status
HAVING count(e.id) <> (CASE WHEN r.status IN ('PENDING', 'SUCCEEDED') THEN 1 ELSE 0 END)
"""


async def in_the_ledger(connection: AsyncConnection, counted: Counter[str]) -> list[str]:
    entries = await rows(connection, "SELECT count(*) FROM ledger_entries")
    counted["ledger entries"] = int(entries[0][0])
    found = await rows(connection, LEDGER_TWICE) + await rows(connection, LEDGER_VS_PAYMENTS)
    return [row[0] for row in found]


async def webhooks(
    connection: AsyncConnection,
    endpoint_id: str,
    arrivals: Counter[str],
    counted: Counter[str],
    *,
    may_repeat: set[str] | None,
    events: frozenset[str],
) -> list[str]:
    """Every one of `events` (those there were when nothing was in flight) arrived at the
    endpoint, and once. A delivery is sent again only when a worker died holding it (the
    endpoint had it, the worker never recorded it), or when a worker recorded a send that
    failed or lost its lease (an answer later than the timeout, a worker not scheduled
    within the lease's margin on a loaded machine): each arrival beyond the first is then
    one of the delivery's logged attempts. `may_repeat` is the events allowed to have come
    more than once unlogged (None: any, a worker was killed)."""
    found = await rows(
        connection,
        "SELECT d.event_id, d.status, e.type FROM webhook_deliveries d"
        " JOIN events e ON e.id = d.event_id WHERE d.endpoint_id = :endpoint",
        endpoint=endpoint_id,
    )
    due = [r for r in found if r.event_id in events]
    counted["webhook events"] = len(due)
    counted["webhook events made after the snapshot"] = len(found) - len(due)
    problems = [
        f"event {r.event_id} ({r.type}): delivery {r.status}"
        for r in due
        if r.status != "SUCCEEDED"
    ]
    problems += [
        f"event {r.event_id} ({r.type}) never arrived" for r in due if not arrivals[r.event_id]
    ]
    twice = {event: n for event, n in arrivals.items() if n > 1}
    counted["webhook events delivered twice"] = len(twice)
    logged = {
        row.event_id: int(row.n)
        for row in await rows(
            connection,
            "SELECT event_id, count(*) AS n FROM webhook_delivery_attempts"
            " WHERE endpoint_id = :endpoint GROUP BY event_id",
            endpoint=endpoint_id,
        )
    }
    counted["webhook events sent again after a logged attempt"] = sum(
        1 for event, n in twice.items() if logged.get(event, 0) >= n
    )
    if may_repeat is not None:
        problems += [
            f"event {event} arrived {n} times, {logged.get(event, 0)} attempts logged,"
            " no worker killed"
            for event, n in twice.items()
            if event not in may_repeat and logged.get(event, 0) < n
        ]
    if len(due) != len(events):
        problems.append(f"{len(due)} deliveries for {len(events)} events")
    return problems


# The scheduled jobs' rows: one settlement per merchant, currency and day (a constraint),
# one payout per settlement, one dispute per acquirer dispute and per intent.
JOBS_TWICE = """
SELECT 'settlement ' || settlement_id || ': ' || count(*) || ' payouts'
  FROM payouts WHERE settlement_id <> '' GROUP BY settlement_id HAVING count(*) > 1
UNION ALL
SELECT 'settlement ' || id || ' paid out as ' || payout_id || ', not in payouts'
  FROM settlements s WHERE payout_id <> ''
   AND NOT EXISTS (SELECT 1 FROM payouts p WHERE p.id = s.payout_id)
UNION ALL
SELECT 'intent ' || payment_intent_id || ': ' || count(*) || ' disputes'
  FROM disputes GROUP BY payment_intent_id HAVING count(*) > 1
"""


async def jobs(connection: AsyncConnection, counted: Counter[str]) -> list[str]:
    for table in ("settlements", "settlement_lines", "payouts", "disputes"):
        found = await rows(connection, f"SELECT count(*) FROM {table}")
        counted[table] = int(found[0][0])
    return [row[0] for row in await rows(connection, JOBS_TWICE)]


# Two of every process on one database, as test_replicas.py and
# test_replica_crash_runs.py start them (running_gateway's keywords).
TWO_OF_EVERY_PROCESS: dict[str, Any] = {
    "api_processes": 2,
    "worker_processes": 2,
    "web_processes": 2,
    "webhook_allowed_networks": "127.0.0.1/32",
    # A delivery cut by a killed worker passes to the other one within seconds.
    "webhook_timeout": 3.0,
    "webhook_lease_margin_seconds": 2.0,
}


# One statement, so one snapshot: no delivery left to make, and the events there were then.
QUIET = """
SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'PENDING') AS pending,
       ARRAY(SELECT id FROM events) AS events
"""


class Settled:
    """Whether nothing is in flight and no webhook delivery is left to make (call it), and
    the events there were at that moment (`events`): the webhook check is about those.
    The workers' jobs go on while the checks run (the dispute feed, expiries), so an event
    made after the snapshot, its delivery not made yet, is the next check's."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.events: frozenset[str] = frozenset()

    async def __call__(self) -> bool:
        if await invariants.stuck(self.connection):
            return False
        [(pending, events)] = await rows(self.connection, QUIET)
        if pending:
            return False
        self.events = frozenset(events)
        return True


# The checks of everything(): the invariants' five and the four above.
CHECKS = 9


async def everything(
    gateway: Gateway,
    connection: AsyncConnection,
    endpoint_id: str,
    receiver: Receiver,
    counted: Counter[str],
    may_repeat: set[str] | None,
    settled: Settled,
) -> list[str]:
    """The invariants of every run and nothing processed twice, over all written so far
    (the webhooks: over the events there were when `settled` last held)."""
    problems = await invariants.money_and_ledger(connection)
    problems += await invariants.outbox_once(connection)
    asked, at_acquirer = await invariants.acquirer_books(gateway, connection)
    counted["attempt lookups"] = asked
    problems += at_acquirer
    problems += await invariants.reconciled(gateway)
    problems += await at_the_acquirer(connection, gateway.data_dir, counted)
    problems += await in_the_ledger(connection, counted)
    _, arrivals = receiver.snapshot()
    problems += await webhooks(
        connection, endpoint_id, arrivals, counted, may_repeat=may_repeat, events=settled.events
    )
    problems += await jobs(connection, counted)
    return problems
