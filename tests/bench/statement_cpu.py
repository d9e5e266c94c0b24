"""`python -m tests.bench.statement_cpu [--calls N] [--rounds R] [--units U]`: this
process's CPU per call of the Python around a statement and a unit of work.

The pieces, each N calls a round, the pieces interleaved, time.thread_time, the best
and the median of R rounds, in µs per call:

- `args create`: the create's statement (its held chain: the intent, its first
  history line, its event and deliveries) turning its parameters into the driver's
  arguments (`Prebuilt.arguments`, the bind processors included);
- `args update`: the same for the intent's versioned update of every mutable column with
  a history line (`_UPDATE_WITH_EVENTS`), as a payment's first update writes it;
- `args narrow`: the update of what the confirm's first step changes, with its line;
- `args read`: the GET's plain read (`DriverRead.compiled(...).arguments`);
- `message new` / `message paid`: the intent to its protobuf message
  (`convert.payment_intent`, with its checkout URL), a new intent and one with an
  error, a risk assessment and card details.

With `--units U` (an embedded PostgreSQL of its own), also: `uow` a unit of work that
only checks out its connection and returns it (`async with uow: pass`), and `uow+read`
one that reads an intent by the GET's plain read; U units each, best of R rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg

from adapters.sql.payments.intents import (
    _GET_READ,
    _MUTABLE_INTENT_COLUMNS,
    _UPDATE_WITH_EVENTS,
    intent_params,
)
from adapters.sql.prebuilt import prebuilt
from core.payments.model import (
    PaymentError,
    PaymentEvent,
    PaymentMethodDetails,
    Status,
)
from core.risk.model import Decision, Reason, RiskAssessment
from servers.grpc import convert
from tests.bench.create_cpu import a_create, create_statement

_RISK = RiskAssessment(12, Decision.ALLOW, (Reason("velocity", "score", 12, "3 in 1h"),), 4)
_NARROW = (
    "status",
    "payment_method",
    "attempts",
    "latest_attempt",
    "risk",
    "payment_method_details",
)


_DIALECT = pg_asyncpg.dialect()


def _arguments_of(statement: Any, params: dict[str, Any]) -> Callable[[], list[Any]]:
    dialect = _DIALECT
    for _ in range(3):  # seen twice: compiled once on the third
        form = prebuilt(statement, params, dialect)
    if form is None:
        raise RuntimeError("the statement is not compiled once")
    return lambda: form.arguments(params)


def pieces() -> dict[str, Callable[[], object]]:
    created, lines, event, fan_out = a_create()
    create_sql, create = create_statement(created, lines, event, fan_out)

    paid = dataclasses.replace(created)
    paid.status = Status.SUCCEEDED
    paid.attempts = 1
    paid.latest_attempt = "pa_bench"
    paid.payment_method = "tok_bench"
    paid.amount_received = paid.amount
    paid.risk = _RISK
    paid.payment_method_details = PaymentMethodDetails("card", "visa", "4242")
    paid.last_payment_error = PaymentError("card_declined", "insufficient_funds", "Declined")
    line = [
        PaymentEvent(
            paid.id,
            paid.merchant_id,
            Status.REQUIRES_PAYMENT_METHOD,
            Status.PROCESSING,
            "bench",
            datetime.now(UTC),
            object_id="pa_bench",
        )
    ]
    full = _MUTABLE_INTENT_COLUMNS
    return {
        "args create": _arguments_of(create_sql, create),
        "args update": _arguments_of(_UPDATE_WITH_EVENTS[full], intent_params(paid, full, line)),
        "args narrow": _arguments_of(
            _UPDATE_WITH_EVENTS[_NARROW], intent_params(paid, _NARROW, line)
        ),
        "args read": lambda: _GET_READ.compiled(_DIALECT).arguments(
            {"intent_id": paid.id, "merchant_id": paid.merchant_id}
        ),
        "message new": lambda: convert.payment_intent(
            created, checkout_base_url="https://pay.example.com"
        ),
        "message paid": lambda: convert.payment_intent(
            paid, checkout_base_url="https://pay.example.com"
        ),
    }


def _spent(call: Callable[[], object], calls: int) -> float:
    before = time.thread_time()
    for _ in range(calls):
        call()
    return (time.thread_time() - before) / calls * 1e6


def _best(measured: dict[str, Callable[[], object]], calls: int, rounds: int) -> dict[str, Any]:
    """Each piece's best and median round; the pieces interleaved round by round, so that
    they share the machine's moments."""
    runs: dict[str, list[float]] = {name: [] for name in measured}
    for _ in range(rounds):
        for name, call in measured.items():
            runs[name].append(_spent(call, calls))
    return {name: (min(each), statistics.median(each)) for name, each in runs.items()}


async def _units(url: str, units: int, rounds: int) -> dict[str, tuple[float, float]]:
    from adapters.sql.engine import create_engine
    from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
    from adapters.system import RandomIds
    from tests.contract.helpers import add_intent, add_merchant

    engine = create_engine(url, pool_size=2)
    factory = SqlUnitOfWorkFactory(engine)
    ids = RandomIds()
    merchant = await add_merchant(factory, ids)
    intent = await add_intent(factory, ids, merchant)

    async def empty() -> None:
        async with factory():
            pass

    async def read() -> None:
        async with factory() as uow:
            await uow.payment_intents.get(merchant, intent.id)

    figures: dict[str, list[float]] = {"uow": [], "uow+read": []}
    try:
        for r in range(rounds + 1):
            order = [("uow", empty), ("uow+read", read)]
            for name, call in order if r % 2 else order[::-1]:
                before = time.thread_time()
                for _ in range(units):
                    await call()
                if r:  # the first round warms the pool and the statements
                    figures[name].append((time.thread_time() - before) / units * 1e6)
    finally:
        await engine.dispose()
    return {name: (min(runs), max(runs)) for name, runs in figures.items()}


def _with_database(units: int, rounds: int) -> dict[str, tuple[float, float]]:
    from servers.runtime.embedded_postgres import EmbeddedPostgres
    from tests.databases import fresh_database

    async def run(admin_url: str) -> dict[str, tuple[float, float]]:
        async with fresh_database(admin_url, "statement_cpu") as url:
            return await _units(url, units, rounds)

    with tempfile.TemporaryDirectory(prefix="statement-cpu-") as folder:
        server = EmbeddedPostgres(Path(folder) / "data")
        admin_url = server.start()
        try:
            return asyncio.run(run(admin_url))
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--units", type=int, default=0, help="units of work; 0: none")
    args = parser.parse_args()
    measured = pieces()
    for call in measured.values():  # warm: plans, caches
        for _ in range(200):
            call()
    for name, (best, median) in _best(measured, args.calls, args.rounds).items():
        print(f"{name:13} {best:8.2f} µs (median round {median:.2f})", flush=True)
    if args.units:
        for name, (best, worst) in _with_database(args.units, args.rounds).items():
            print(f"{name:13} {best:8.2f} µs (worst round {worst:.2f})")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
