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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from core.payments.acquirer import (
    Acquirer,
    AcquirerDispute,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    CardReference,
    DisputeFeed,
    InvalidPaymentDetails,
    OperationResult,
    RefundRequest,
    VoidRequest,
)
from core.payments.ports import CardVault
from core.shared.errors import PaygateError


class CardholderDataZone:
    """One connector inside the zone: detokenizes card references, then calls it."""

    def __init__(self, connector: Acquirer, vault: CardVault) -> None:
        self.connector = connector
        self._vault = vault

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        source = request.source
        if isinstance(source, CardReference):
            try:
                vaulted = await self._vault.card_for_payment(
                    request.merchant_id,
                    source.payment_method,
                    livemode=source.livemode,
                    purpose=source.purpose,
                )
            except PaygateError as refused:
                raise InvalidPaymentDetails("payment_method", refused.message) from None
            request = replace(request, source=vaulted.card)
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
