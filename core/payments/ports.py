"""What the payments context needs from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.payments.model import PaymentEvent, PaymentIntent, Status


class PaymentIntentRepository(Protocol):
    async def add(self, intent: PaymentIntent) -> None: ...

    async def get(
        self, merchant_id: str, intent_id: str, *, for_update: bool = False
    ) -> PaymentIntent | None:
        """The intent if it belongs to that merchant; `for_update` locks it until commit."""
        ...

    async def list(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        status: Status | None = None,
    ) -> Sequence[PaymentIntent]:
        """Up to `limit` intents, newest first, older than `starting_after` when given."""
        ...

    async def update(self, intent: PaymentIntent) -> None:
        """Saves a changed intent whose `version` is still the stored one, and bumps it.

        Raises core.shared.errors.Conflict when another transaction saved it first.
        """
        ...


class PaymentEventLog(Protocol):
    async def append(self, events: Sequence[PaymentEvent]) -> None: ...

    async def for_intent(self, merchant_id: str, intent_id: str) -> Sequence[PaymentEvent]:
        """The intent's history, oldest first."""
        ...
