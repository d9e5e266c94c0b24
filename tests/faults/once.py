"""Nothing processed twice, whichever process did it: counted at the acquirer (its books
journal), in the ledger, in the outbox, at the webhook endpoint and in the batch jobs'
rows. Each check returns its violations (empty when it holds) and adds what it counted
to `counted`, so that a run reports all of them at once and its figures.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from core.payments.acquirer import OperationStatus
from sandbox.acquirer.books_journal import Books, BooksJournal
from tests.faults.invariants import rows


def acquirer_journals(data_dir: Path) -> dict[str, Books]:
    """The acquirer role's books as its journals hold them: name -> books."""
    directory = data_dir / "acquirer"
    return {path.stem: BooksJournal(directory, path.stem).read() for path in directory.glob("*.jsonl")}


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
    for name, books in acquirer_journals(data_dir).items():
        settled = Counter((r.kind, r.reference) for r in books.settlement)
        problems += [f"{name}: {key} settled {n} times" for key, n in settled.items() if n > 1]
        counted["settlement records"] += len(books.settlement)
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
