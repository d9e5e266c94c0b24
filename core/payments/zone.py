"""The cardholder-data zone: where a vaulted card becomes a card number, and the connectors.

The application zone (API processes, the worker: core.payments.lifecycle) holds card
tokens only. It names the card (CardReference) and the route (which acquirer); the zone
swaps the reference for the card out of the vault (CardVault.card_for_payment, which
uses up a token and writes the vault's audit) immediately before the connector's call,
and the card is dropped when the call returns. Everything else goes to the connector as
it is: captures, voids, refunds, lookups and challenges carry no card data.

The zone is one Acquirer per connector, so it is served exactly like an acquirer: in the
same process in the embedded mode (servers/bootstrap/zone.py), or by the vault role over
AcquirerSimulatorService in split mode, where the API process only ever sends references
(docs/connectors.md). It is the same class either way.

A reference the vault refuses (a token used or expired since the confirm described it,
another merchant's) never reaches the connector: it is InvalidPaymentDetails naming
`payment_method`, before anything was sent.

Failover (core.payments.failover) may send one attempt to a second connector after the
first could not be reached: a token is single-use, so the zone's connectors share one
ZoneCards, which keeps the card of an attempt in memory (inside the zone) for
`hold` after it was taken out of the vault, for that attempt's reference only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from core.payments.acquirer import (
    Acquirer,
    AcquirerDispute,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    Card,
    CardReference,
    DisputeFeed,
    InvalidPaymentDetails,
    OperationResult,
    RefundRequest,
    VoidRequest,
)
from core.payments.ports import CardVault
from core.shared.errors import PaygateError
from core.shared.ports import Clock
from core.shared.redaction import mask_pans

HOLD = timedelta(minutes=2)


class ZoneCards:
    """The zone's cards by attempt: out of the vault once, kept for `hold` for failover."""

    def __init__(self, vault: CardVault, clock: Clock, hold: timedelta = HOLD) -> None:
        self._vault = vault
        self._clock = clock
        self._hold = hold
        self._held: dict[tuple[str, str, str], tuple[datetime, Card]] = {}

    async def card(self, request: AuthorizationRequest, reference: CardReference) -> Card:
        now = self._clock.now()
        self._drop_ended(now)
        key = (request.merchant_id, request.attempt_reference, reference.payment_method)
        held = self._held.get(key)
        if held is not None and held[0] > now:
            return held[1]
        try:
            vaulted = await self._vault.card_for_payment(
                request.merchant_id,
                reference.payment_method,
                livemode=reference.livemode,
                purpose=reference.purpose,
            )
        except PaygateError as refused:
            raise InvalidPaymentDetails("payment_method", mask_pans(refused.message)) from None
        self._held.pop(key, None)  # (one whose hold ended goes to the end, renewed)
        self._held[key] = (now + self._hold, vaulted.card)
        return vaulted.card

    def _drop_ended(self, now: datetime) -> None:
        """Drops the cards whose hold ended. They were held in this order and all for the
        same `hold`, so they end in this order too: the oldest go first, and the walk
        stops at the first still held (not a pass over every card held, per call)."""
        while self._held:
            oldest = next(iter(self._held))
            if self._held[oldest][0] > now:
                return
            del self._held[oldest]


class CardholderDataZone:
    """One connector inside the zone: detokenizes card references, then calls it."""

    def __init__(self, connector: Acquirer, cards: ZoneCards) -> None:
        self.connector = connector
        self._cards = cards

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        source = request.source
        if isinstance(source, CardReference):
            request = replace(request, source=await self._cards.card(request, source))
        return await self.connector.authorize(request)

    async def complete_challenge(self, attempt_reference: str, passed: bool) -> AuthorizationResult:
        return await self.connector.complete_challenge(attempt_reference, passed)

    async def lookup(self, attempt_reference: str) -> AuthorizationResult | None:
        return await self.connector.lookup(attempt_reference)

    async def capture(self, request: CaptureRequest) -> OperationResult:
        return await self.connector.capture(request)

    async def void(self, request: VoidRequest) -> OperationResult:
        return await self.connector.void(request)

    async def refund(self, request: RefundRequest) -> OperationResult:
        return await self.connector.refund(request)

    async def disputes_since(self, sequence: int = 0) -> Sequence[AcquirerDispute]:
        if isinstance(self.connector, DisputeFeed):
            return await self.connector.disputes_since(sequence)
        return []


if TYPE_CHECKING:  # mypy proves the zone fits the ports

    def _fits(zone: CardholderDataZone) -> tuple[Acquirer, DisputeFeed]:
        return zone, zone
