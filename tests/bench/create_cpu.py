"""`python -m tests.bench.create_cpu [--calls N] [--rounds R]`: this process's CPU per
create of a payment intent, piece by piece, outside the pool and the database.

The pieces of the API's Python a create runs besides its statement and its connection:
the request to the use case's command (`request`), the use case up to its writes, its
validation, the intent's model and its id and client secret (`use case`), the five ids
and the client secret alone (`ids`), the outbox's event with the intent rendered as the
API shows it (`outbox`), the rendering alone (`render`), the statement's parameters from
the intent, its history line and its event, through the bind processors as the driver
gets them (`parameters`), and the answer's message (`answer`). Each is N calls,
time.thread_time, best of R rounds, in µs per call. No database: the unit of work is a
stand-in that holds nothing and writes nothing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from paygate.v1 import payment_intents_pb2 as pb
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg

from adapters.sql.events import EventAdded
from adapters.sql.held import Chain
from adapters.sql.payments.intents import IntentAdded
from adapters.sql.prebuilt import prebuilt
from adapters.system import RandomIds, SystemClock
from core.access.model import Principal
from core.account.profile_cache import ProfileCache
from core.events.outbox import EventOutbox, PaymentOutbox
from core.payments.model import PaymentIntent
from core.payments.use_cases import PaymentIntents
from core.unit_of_work import Saved
from servers.grpc import convert
from servers.grpc.events_convert import ApiRenderer

CALLER = Principal(merchant_id="acct_bench", livemode=False, actor="key_bench", role=None)
REQUEST = pb.CreatePaymentIntentRequest(
    amount=4999,
    currency="usd",
    description="Order 1234",
    metadata={"order_id": "1234", "customer": "c_42"},
    receipt_email="buyer@example.com",
)


class _Nothing:
    """The unit of work's stand-in: reads find nothing, writes are dropped."""

    def __getattr__(self, name: str) -> Any:
        return self

    async def get(self, *args: Any) -> None:
        return None

    async def add(self, *args: Any) -> None:
        return None

    async def add_with_deliveries(self, *args: Any) -> None:
        return None

    def conclude(self, *args: Any) -> None:
        return None

    async def commit(self) -> None:
        return None

    async def __aenter__(self) -> _Nothing:
        return self

    async def __aexit__(self, *args: Any) -> None:
        return None


def _run(coroutine: Any) -> Any:
    """A coroutine that never suspends, run to its end without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("suspended")


def a_create() -> tuple[PaymentIntent, list[Any], Any, Any]:
    """A created intent as the use case makes it, its first history lines, its event and
    the event's fan-out."""
    ids = RandomIds()
    nothing = _Nothing()
    clock = SystemClock()
    intents = PaymentIntents(lambda: nothing, ids, clock, profiles=ProfileCache(clock))  # type: ignore[arg-type]
    payments = PaymentOutbox(EventOutbox(ids, ApiRenderer()))
    intent = _run(intents.create(CALLER, convert.create_command(REQUEST)))
    created = PaymentIntent.create(
        id=intent.id,
        merchant_id=intent.merchant_id,
        amount=intent.amount,
        currency=intent.currency,
        capture_method=intent.capture_method,
        client_secret=intent.client_secret,
        livemode=False,
        created=datetime.now(UTC),
        actor="key_bench",
        payment_method_types=("card",),
        description=intent.description,
        metadata=dict(intent.metadata),
        receipt_email=intent.receipt_email,
    )
    lines = created.pull_events()
    captured: list[Any] = []

    async def _capture(event: Any, fan_out: Any) -> None:
        captured.append((event, fan_out))

    class _Capturing(_Nothing):
        add_with_deliveries = staticmethod(_capture)

    _run(payments.record(_Capturing(), lines, Saved(created)))
    event, fan_out = captured[0]
    return created, lines, event, fan_out


def create_statement(
    created: PaymentIntent, lines: Any, event: Any, fan_out: Any
) -> tuple[Any, dict[str, Any]]:
    """The create's statement (its held chain: the intent, its first history lines, its
    event with the deliveries) and its parameters."""
    return Chain(IntentAdded(created, lines), (EventAdded(event, fan_out),)).statement()


def pieces() -> dict[str, Callable[[], object]]:
    ids = RandomIds()
    nothing = _Nothing()
    clock = SystemClock()
    profiles = ProfileCache(clock)
    intents = PaymentIntents(lambda: nothing, ids, clock, profiles=profiles)  # type: ignore[arg-type]
    command = convert.create_command(REQUEST)
    outbox = EventOutbox(ids, ApiRenderer())
    payments = PaymentOutbox(outbox)
    created, lines, event, fan_out = a_create()
    renderer = ApiRenderer()
    dialect = pg_asyncpg.dialect()

    def ids_of_a_create() -> None:
        ids.new("pi")
        ids.secret(18)
        ids.new("evt")
        ids.new("whd")
        ids.new("whd")
        ids.new("whd")

    def parameters() -> list[Any]:
        statement, params = create_statement(created, lines, event, fan_out)
        form = prebuilt(statement, params, dialect)
        if form is None:  # the statement's first two runs: compiled on the third
            return []
        return form.arguments(params)

    return {
        "request": lambda: convert.create_command(REQUEST),
        "use case": lambda: _run(intents.create(CALLER, command)),
        "ids": ids_of_a_create,
        "outbox": lambda: _run(payments.record(nothing, lines, Saved(created))),  # type: ignore[arg-type]
        "render": lambda: renderer.render(created),
        "parameters": parameters,
        "answer": lambda: convert.payment_intent(
            created, checkout_base_url="https://pay.example.com"
        ),
    }


def _best(call: Callable[[], object], calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        before = time.thread_time()
        for _ in range(calls):
            call()
        best = min(best, time.thread_time() - before)
    return best / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    measured = pieces()
    for call in measured.values():  # warm: plans, prebuilt statements, caches
        for _ in range(200):
            call()
    assert measured["parameters"](), "the statement is not compiled once"
    for name, call in measured.items():
        print(f"{name:12} {_best(call, args.calls, args.rounds):8.2f} µs")


if __name__ == "__main__":
    main()
