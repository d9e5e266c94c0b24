"""`python -m tests.bench.intent_row_cpu [--statements N] [--rounds R]`: this process's
CPU per statement on the payment intent's row, on an embedded PostgreSQL.

Writes: the intent's versioned update as the unit of work runs it (a statement built
once, run by asyncpg), sending every mutable column (`full`: an intent with nothing
remembered of it, as every update was before) or only what a step of a payment changes
(`narrow`: the confirm's first step, then its authorization, alternately); the same with
the attempt's update and a history line in the one statement, as the confirm's phases
write them (`attempt-full`, `attempt-narrow`). Reads: the
locking read of the intent through the repository (`read`), and its parts: asyncpg's
fetch of the row's 31 columns (`fetch`), of the same row without its JSONB columns
(`fetch-no-json`), of its version alone (`fetch-version`: what any one-row statement
costs), those columns' JSON decoding alone (`json.loads` of their text), and
the model built from a row (`intent_of`). Each is N statements inside one unit of work,
the kinds interleaved by 50 (so that they share the machine's load), their order
alternating by round; CPU is the main thread's (time.thread_time: PostgreSQL's is its own
process's), in µs per statement, the median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from adapters.sql.engine import create_engine
from adapters.sql.payments.intents import _GET_FOR_UPDATE, _KNOWN, INTENT_COLUMNS, intent_of
from adapters.sql.tables import payment_intents
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.payments.model import (
    PaymentError,
    PaymentEvent,
    PaymentIntent,
    PaymentMethodDetails,
    Status,
)
from core.risk.model import Decision, Reason, RiskAssessment
from servers.runtime.embedded_postgres import EmbeddedPostgres
from tests.contract.helpers import T0, add_intent, add_merchant, new_attempt
from tests.databases import fresh_database

_JSON = ("metadata", "last_payment_error", "next_action", "risk", "payment_method_details")
_RISK = RiskAssessment(12, Decision.ALLOW, (Reason("velocity", "score", 12, "3 in 1h"),), 4)


def _begin(intent: PaymentIntent, n: int) -> None:
    """What the confirm's first step changes: the attempt begins."""
    intent.status = Status.PROCESSING
    intent.attempts += 1
    intent.latest_attempt = f"pa_{n}"
    intent.payment_method = "tok_bench"
    intent.risk = dataclasses.replace(_RISK, score=n % 90)
    intent.payment_method_details = PaymentMethodDetails("card", "visa", f"{n % 10000:04d}")


def _authorized(intent: PaymentIntent, n: int) -> None:
    """... and its authorization."""
    intent.status = Status.REQUIRES_CAPTURE
    intent.amount_capturable = intent.amount - n % 2
    intent.capture_before = T0 + timedelta(days=7, seconds=n)


CHUNK = 50  # statements of one kind in a row: the kinds interleave, so share the load


async def _cpu_of(start: int, call: Callable[[int], Awaitable[object]]) -> float:
    before = time.thread_time()
    for n in range(start, start + CHUNK):
        await call(n)
    return time.thread_time() - before


async def _attempt_of(factory: SqlUnitOfWorkFactory, ids: RandomIds, intent: PaymentIntent) -> str:
    """The intent's attempt, which the `attempt-` statements write with it (as phase 3)."""
    async with factory() as uow:
        loaded = await uow.payment_intents.get(intent.merchant_id, intent.id, for_update=True)
        assert loaded is not None
        attempt = new_attempt(ids, loaded)
        await uow.payment_attempts.add_with_intent(attempt, loaded)
        await uow.commit()
    return attempt.id


async def measure(url: str, count: int, rounds: int) -> None:
    engine = create_engine(url, pool_size=2)
    factory, ids = SqlUnitOfWorkFactory(engine), RandomIds()
    merchant = await add_merchant(factory, ids)
    stored = await add_intent(
        factory,
        ids,
        merchant,
        metadata={"order": "42", "customer": "c_981"},
        description="Order 42",
        last_payment_error=PaymentError("card_declined", "insufficient_funds", "Declined"),
        risk=_RISK,
        payment_method_details=PaymentMethodDetails("card", "visa", "4242"),
    )
    attempt_id = await _attempt_of(factory, ids, stored)
    figures: dict[str, list[float]] = {}

    async def round_of(order: list[str]) -> None:
        async with factory() as uow:
            intent = await uow.payment_intents.get(merchant, stored.id, for_update=True)
            assert intent is not None
            driver = uow.connection._driver  # type: ignore[attr-defined]
            sql = str(_GET_FOR_UPDATE.compile(dialect=engine.dialect))
            plain = [c for c in INTENT_COLUMNS if c.name not in _JSON]
            no_json = str(_GET_FOR_UPDATE.with_only_columns(*plain).compile(dialect=engine.dialect))
            version = str(
                _GET_FOR_UPDATE.with_only_columns(payment_intents.c.version).compile(
                    dialect=engine.dialect
                )
            )
            args = [stored.id, merchant]
            await uow.payment_intents.update(intent)  # the statements seen: built once
            await uow.payment_intents.update(intent)
            attempt = await uow.payment_attempts.get(attempt_id, for_update=True)
            assert attempt is not None
            row = dict(await driver.fetchrow(sql, *args))
            texts = [json.dumps(row[n]) for n in _JSON]

            async def full(n: int) -> None:
                _KNOWN.pop(id(intent), None)  # nothing remembered: every column
                (_begin if n % 2 == 0 else _authorized)(intent, n)
                await uow.payment_intents.update(intent)

            async def narrow(n: int) -> None:
                (_begin if n % 2 == 0 else _authorized)(intent, n)
                await uow.payment_intents.update(intent)

            def line(n: int) -> list[PaymentEvent]:
                status = Status.PROCESSING if n % 2 == 0 else Status.REQUIRES_CAPTURE
                return [
                    PaymentEvent(
                        intent.id,
                        merchant,
                        intent.status,
                        status,
                        "bench",
                        T0,
                        object_id=attempt.id,
                    )
                ]

            async def with_attempt(n: int) -> None:
                events = line(n)
                (_begin if n % 2 == 0 else _authorized)(intent, n)
                attempt.updated_at = T0 + timedelta(seconds=n)
                await uow.payment_attempts.update_with_intent(attempt, intent, events)

            async def attempt_full(n: int) -> None:
                _KNOWN.pop(id(intent), None)
                await with_attempt(n)

            async def read(n: int) -> None:
                await uow.payment_intents.get(merchant, stored.id, for_update=True)

            async def fetch(n: int) -> None:
                await driver.fetch(sql, *args)

            async def fetch_no_json(n: int) -> None:
                await driver.fetch(no_json, *args)

            async def fetch_version(n: int) -> None:
                await driver.fetch(version, *args)

            async def loads(n: int) -> None:
                for text in texts:
                    json.loads(text)

            async def model(n: int) -> None:
                intent_of(row)

            calls = {
                "full": full,
                "narrow": narrow,
                "attempt-full": attempt_full,
                "attempt-narrow": with_attempt,
                "read": read,
                "fetch": fetch,
                "fetch-no-json": fetch_no_json,
                "fetch-version": fetch_version,
                "json.loads": loads,
                "intent_of": model,
            }
            spent = dict.fromkeys(order, 0.0)
            for start in range(0, count, CHUNK):
                for name in order:
                    spent[name] += await _cpu_of(start, calls[name])
            for name in order:
                figures.setdefault(name, []).append(spent[name] / (count // CHUNK * CHUNK) * 1e6)
            await uow.commit()

    names = [
        "full",
        "narrow",
        "attempt-full",
        "attempt-narrow",
        "read",
        "fetch",
        "fetch-no-json",
        "fetch-version",
        "json.loads",
    ]
    names.append("intent_of")
    await round_of(names)  # warm up: caches, statements prepared
    figures.clear()
    for r in range(rounds):
        await round_of(names if r % 2 == 0 else names[::-1])
    await engine.dispose()
    for name, runs in figures.items():
        each = ", ".join(f"{x:.0f}" for x in runs)
        print(f"{name:14} µs CPU per statement: {statistics.median(runs):7.1f} ({each})")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


async def _on_fresh_database(admin_url: str, count: int, rounds: int) -> None:
    async with fresh_database(admin_url, "intent_row_cpu") as url:
        await measure(url, count, rounds)


def main(count: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="intent-row-cpu-") as folder:
        server = EmbeddedPostgres(Path(folder) / "data")
        admin_url = server.start()
        try:
            asyncio.run(_on_fresh_database(admin_url, count, rounds))
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    main(args.statements, args.rounds)
