"""A write the unit of work holds back until its next statement or its commit.

A create writes twice: the intent with its first history line
(adapters/sql/payments/intents.py), then the outbox's event with its deliveries
(adapters/sql/events.py). Sent as they come, that is BEGIN, two statements and COMMIT:
four round trips. Held back, the intent's write takes the event's into one statement,
and the commit sends that statement alone when no Idempotency-Key rides on the
transaction (LazyTransaction.commit): PostgreSQL commits one statement by itself, all or
nothing, so the intent, its history and its event still commit together or not at all, in
one round trip.

Holding changes only when a write is sent, never what is written: any other statement
(a read, another write, a savepoint) sends the held write first, inside the transaction
as before, and a unit of work left without commit sends nothing.
"""

from __future__ import annotations

from typing import Any, Protocol

from core.events.model import Event, FanOut


class HeldWrite(Protocol):
    async def send(self, connection: Any) -> None:
        """Writes it through `connection` (LazyTransaction), as it would have been
        written had it not been held."""
        ...

    def with_event(self, event: Event, fan_out: FanOut) -> HeldWrite | None:
        """This write and the outbox's event (with its deliveries) as one write, or None
        when they cannot be one statement."""
        ...


def hold(connection: Any, write: HeldWrite) -> bool:
    """Whether `connection` holds `write` back (a unit of work's, before its transaction
    began); False: the caller sends it now."""
    held = getattr(connection, "hold", None)
    return held is not None and bool(held(write))


def held_with_event(connection: Any, event: Event, fan_out: FanOut) -> bool:
    """Whether the write `connection` holds took the outbox's event: then nothing is sent
    now; False: the caller writes the event itself."""
    join = getattr(connection, "held_with_event", None)
    return join is not None and bool(join(event, fan_out))


def wrote_nothing(connection: Any) -> None:
    """The held write's statement, sent alone, wrote nothing (it found it could not write
    everything at once): what follows begins a transaction as usual."""
    connection.wrote_nothing()
