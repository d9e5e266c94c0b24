"""The base of the JSON PSP connectors (orbit_client.py, kora_client.py): one httpx client,
the port's reading of what happened on the wire, and what every card-only PSP without
challenges answers the same way.

    no connection (refused, connect timeout, no free connection)  AcquirerUnavailable:
                                                                   nothing was sent
    sent, then no answer (read timeout, a dropped connection)      AcquirerTimeout:
                                                                   outcome unknown
    a 5xx answer                                                   AcquirerTimeout too

Each connector reads its PSP's bodies and error shapes itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import httpx

from core.payments.acquirer import (
    AcquirerRejected,
    AcquirerTimeout,
    AcquirerUnavailable,
    AuthorizationRequest,
    AuthorizationResult,
    Card,
    RejectionCode,
)
from core.shared.money import Money


class JsonHttp(ABC):
    """A JSON PSP's connector: subclasses name the PSP and speak its paths and shapes."""

    name: ClassVar[str] = "The PSP"

    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 2.0))
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    @abstractmethod
    async def lookup(self, attempt_reference: str) -> AuthorizationResult | None:
        """The attempt as the PSP has it; None when it never received it."""

    async def complete_challenge(self, attempt_reference: str, passed: bool) -> AuthorizationResult:
        """The PSP runs no challenges, so every attempt it knows is final: the port's
        idempotent answer is its result; one it does not know is unknown."""
        found = await self.lookup(attempt_reference)
        if found is None:
            raise AcquirerRejected(
                RejectionCode.UNKNOWN_REFERENCE, f"No attempt {attempt_reference} at {self.name}."
            )
        return found

    # --- what every PSP request carries ---------------------------------------------------

    def card_of(self, request: AuthorizationRequest) -> Card:
        if not isinstance(request.source, Card):
            raise AcquirerRejected(
                RejectionCode.UNSUPPORTED_PAYMENT_SOURCE, f"{self.name} takes cards."
            )
        return request.source

    @staticmethod
    def movement(
        reference: str, merchant_id: str, amount: Money, *, lower_currency: bool = False
    ) -> dict[str, Any]:
        """The fields every request that moves money starts with: our reference (also the
        Idempotency-Key), the merchant, the amount in minor units and its currency."""
        currency = amount.currency.lower() if lower_currency else amount.currency
        return {
            "reference": reference,
            "merchant": merchant_id,
            "amount": amount.amount,
            "currency": currency,
        }

    @staticmethod
    def rejection(code: str, message: str) -> AcquirerRejected:
        """The PSP's refusal as the port's; a code we do not know is invalid details."""
        try:
            rejection = RejectionCode(code)
        except ValueError:
            rejection = RejectionCode.INVALID_PAYMENT_DETAILS
        return AcquirerRejected(rejection, message or code)

    # --- the wire ---------------------------------------------------------------------------

    async def send(
        self, method: str, path: str, reference: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        """The answer, with our reference as the request's Idempotency-Key."""
        try:
            response = await self._http.request(
                method, path, json=body, headers={"Idempotency-Key": reference}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
            raise AcquirerUnavailable(
                f"{self.name} could not be reached; nothing was sent."
            ) from None
        except httpx.TransportError:
            raise AcquirerTimeout(
                reference, f"No answer from {self.name} for {reference}."
            ) from None
        if response.status_code >= 500:
            raise AcquirerTimeout(reference, f"{self.name} answered {response.status_code}.")
        return response

    def body(self, response: httpx.Response, reference: str) -> dict[str, Any]:
        try:
            parsed: dict[str, Any] = response.json()
        except ValueError:
            raise AcquirerTimeout(reference, f"{self.name}'s answer was not JSON.") from None
        return parsed
