"""What must hold after any crash, once recovery has run: read from the database, the
acquirer role's books and `paygate reconcile`. Each check returns its violations (empty
when it holds), so that a run reports all of them at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.acquirers.grpc_client import GrpcAcquirer
from core.events.outbox import payment_event_types
from core.payments.acquirer import (
    AcquirerUnavailable,
    AuthorizationOutcome,
    AuthorizationResult,
    OperationStatus,
)
from core.payments.model import EventKind, PaymentEvent, Status
from servers.bootstrap.acquirers import acquirer_clients
from servers.cli.ledger import AcquirerRole, run_reconcile
from tests.e2e.gateway import Gateway

# Seconds a lookup may wait for the acquirer role to answer again (_lookup).
LOOKUP_WITHIN = 60.0

# Outcome unknown or a call in flight: recovery must end each of them.
STUCK = """
SELECT 'attempt ' || id || ' ' || status FROM payment_attempts
 WHERE status IN ('PROCESSING', 'CAPTURE_PENDING', 'VOID_PENDING')
UNION ALL
SELECT 'refund ' || id || ' PENDING' FROM refunds WHERE status = 'PENDING'
UNION ALL
SELECT 'intent ' || id || ' PROCESSING' FROM payment_intents WHERE status = 'PROCESSING'
UNION ALL  -- a UPI collect the switch has answered by now (success@upi, failure@upi)
SELECT 'upi attempt ' || id || ' REQUIRES_ACTION' FROM payment_attempts
 WHERE status = 'REQUIRES_ACTION' AND payment_method_type = 'upi'
"""

MONEY = """
SELECT 'intent ' || id || ': received ' || amount_received || ' > amount ' || amount
  FROM payment_intents WHERE amount_received > amount
UNION ALL
SELECT 'intent ' || id || ': refunded ' || amount_refunded || ' > received ' || amount_received
  FROM payment_intents WHERE amount_refunded > amount_received
UNION ALL
SELECT 'attempt ' || id || ': captured ' || amount_captured || ' > authorized '
       || amount_authorized
  FROM payment_attempts WHERE amount_captured > amount_authorized
UNION ALL
SELECT 'intent ' || i.id || ': received ' || i.amount_received || ' > captured '
       || sum(a.amount_captured)
  FROM payment_intents i JOIN payment_attempts a ON a.payment_intent_id = i.id
 GROUP BY i.id, i.amount_received HAVING i.amount_received > sum(a.amount_captured)
UNION ALL
SELECT 'intent ' || i.id || ': refunds ' || sum(r.amount) || ' > received ' || i.amount_received
  FROM payment_intents i JOIN refunds r ON r.payment_intent_id = i.id
 WHERE r.status IN ('PENDING', 'SUCCEEDED')
 GROUP BY i.id, i.amount_received HAVING sum(r.amount) > i.amount_received
UNION ALL
SELECT 'intent ' || payment_intent_id || ': ' || count(*) || ' authorized attempts'
  FROM payment_attempts WHERE amount_authorized > 0
 GROUP BY payment_intent_id HAVING count(*) > 1
"""

# Test money and live money are two books (docs/ledger.md): each balances on its own, per
# currency, and no entry posts to an account of the other mode.
BALANCED = """
SELECT 'entry ' || entry_id || ' ' || currency || ' (live ' || starts_with(account, 'live:')
       || ') sums to ' || sum(amount)
  FROM ledger_postings GROUP BY entry_id, currency, starts_with(account, 'live:')
 HAVING sum(amount) <> 0
UNION ALL
SELECT 'all ' || CASE WHEN starts_with(account, 'live:') THEN 'live' ELSE 'test' END
       || ' balances in ' || currency || ' sum to ' || sum(amount)
  FROM ledger_postings GROUP BY currency, starts_with(account, 'live:') HAVING sum(amount) <> 0
UNION ALL
SELECT 'entry ' || e.id || ' (live ' || e.livemode || ') posts to ' || p.account
  FROM ledger_entries e JOIN ledger_postings p ON p.entry_id = e.id
 WHERE e.livemode <> starts_with(p.account, 'live:')
UNION ALL
SELECT 'refund ' || r.id || ' (live ' || r.livemode || ') of a live ' || i.livemode || ' intent'
  FROM refunds r JOIN payment_intents i ON i.id = r.payment_intent_id
 WHERE r.livemode <> i.livemode
"""

HISTORY = """
SELECT payment_intent_id, merchant_id, from_status, to_status, actor, occurred_at, kind,
       object_id, amount
  FROM payment_events ORDER BY id
"""

OUTBOX = """
SELECT type, coalesce(data->>'id', data->'object'->>'id') AS object_id, created FROM events
"""


async def rows(connection: AsyncConnection, query: str, **params: Any) -> list[Any]:
    return list((await connection.execute(text(query), params)).all())


async def stuck(connection: AsyncConnection) -> list[str]:
    return [row[0] for row in await rows(connection, STUCK)]


async def money_and_ledger(connection: AsyncConnection) -> list[str]:
    return [row[0] for row in await rows(connection, MONEY) + await rows(connection, BALANCED)]


async def outbox_once(connection: AsyncConnection) -> list[str]:
    """Every line of every intent's history has its events in the outbox exactly once:
    the types core.events.outbox derives from it, about its object, at its time."""
    expected: Counter[tuple[str, str, datetime]] = Counter()
    for row in await rows(connection, HISTORY):
        line = PaymentEvent(
            payment_intent_id=row.payment_intent_id,
            merchant_id=row.merchant_id,
            from_status=Status(row.from_status) if row.from_status else None,
            to_status=Status(row.to_status),
            actor=row.actor,
            occurred_at=row.occurred_at,
            kind=EventKind(row.kind),
            object_id=row.object_id,
            amount=row.amount,
        )
        for event_type, kind in payment_event_types(line):
            about = line.object_id if kind == "refund" else line.payment_intent_id
            expected[event_type.value, about, line.occurred_at] += 1
    types = {event_type for event_type, _, _ in expected}
    found = Counter(
        (row.type, row.object_id, row.created)
        for row in await rows(connection, OUTBOX)
        if row.type in types
    )
    problems = [f"{key} missing from the outbox" for key in expected - found]
    problems += [f"{key} in the outbox {found[key]} times" for key in found - expected]
    return problems


async def acquirer_books(gateway: Gateway, connection: AsyncConnection) -> tuple[int, list[str]]:
    """Asks the acquirer role about every attempt: at most one approved per intent, and
    none approved there that the gateway failed or forgot. (attempts asked, violations)"""
    attempts = await rows(
        connection,
        "SELECT id, payment_intent_id, payment_method_type, status FROM payment_attempts",
    )
    clients = acquirer_clients(
        gateway.acquirer_target,
        service_token=gateway.acquirer_service_token,
        timeout_seconds=10.0,
    )
    problems: list[str] = []
    approved: Counter[str] = Counter()
    try:
        for attempt in attempts:
            book: GrpcAcquirer = (
                clients.upi_switch if attempt.payment_method_type == "upi" else clients.card_network
            )
            known = await _lookup(book, attempt.id)
            if known is None or known.outcome is not AuthorizationOutcome.APPROVED:
                continue
            approved[attempt.payment_intent_id] += 1
            if attempt.status in ("FAILED", "PROCESSING"):
                problems.append(f"attempt {attempt.id} approved at the acquirer, {attempt.status}")
            sale = known.capture  # captured in the authorization's message: recorded so
            sold = sale is not None and sale.status is OperationStatus.SUCCEEDED
            if sold and attempt.status != "CAPTURED":
                problems.append(
                    f"attempt {attempt.id} captured by a sale at the acquirer, {attempt.status}"
                )
    finally:
        await clients.aclose()
    problems += [
        f"intent {pi}: {n} approved at the acquirer" for pi, n in approved.items() if n > 1
    ]
    return len(attempts), problems


async def _lookup(book: GrpcAcquirer, attempt_id: str) -> AuthorizationResult | None:
    """The acquirer's record of an attempt. A lookup changes nothing, so one the role did
    not answer (a connection that failed on a loaded machine) is asked again: this check
    is about the books, and an acquirer that stays away still fails it."""
    deadline = time.monotonic() + LOOKUP_WITHIN
    while True:
        try:
            return await book.lookup(attempt_id)
        except AcquirerUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def reconciled(gateway: Gateway) -> list[str]:
    """`paygate reconcile` of today (its code, in this process) finds no difference:
    settlement = ledger = every acquirer's settlement records."""
    said: list[tuple[str, str, dict[str, Any]]] = []

    def say(level: str, message: str, **fields: Any) -> None:
        said.append((level, message, fields))

    code = await run_reconcile(
        gateway.database_url,
        datetime.now(UTC).date(),
        say,
        files=[],
        directory=gateway.data_dir,
        acquirer=AcquirerRole(
            gateway.acquirer_target,
            gateway.acquirer_service_token,
            orbit_url=gateway.orbit_url,
            kora_url=gateway.kora_url,
            wallet_url=gateway.wallet_url,
            netbanking_url=gateway.netbanking_url,
        ),
    )
    if code == 0:
        return []
    return [f"reconcile exited {code}: {message} {fields}" for _, message, fields in said[:10]]
