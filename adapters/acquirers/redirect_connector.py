"""What the wallet and net banking connectors share: their HTTP client, no challenges (the
payer answers on the provider's page), and how a payment waiting for the payer becomes a
next_action."""

from __future__ import annotations

import httpx

from adapters.acquirers.json_http import JsonHttp
from core.payments.acquirer import (
    AcquirerRejected,
    AuthorizationOutcome,
    AuthorizationResult,
    NextActionType,
    RejectionCode,
)
from core.payments.model import NextAction


class RedirectConnector:
    name = "The provider"

    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = JsonHttp(
            base_url, self.name, timeout_seconds=timeout_seconds, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def complete_challenge(self, attempt_reference: str, passed: bool) -> AuthorizationResult:
        raise AcquirerRejected(
            RejectionCode.NO_ACTION_PENDING, f"{self.name}'s payer answers on its own page."
        )


def waiting_for(
    outcome: AuthorizationOutcome, page: str
) -> tuple[AuthorizationOutcome, NextAction | None]:
    """The outcome and next_action of a payment: one waiting for the payer sends them to
    `page`; with no page to send them to, it is PENDING (the poller asks again)."""
    if outcome is not AuthorizationOutcome.REQUIRES_ACTION:
        return outcome, None
    if not page:
        return AuthorizationOutcome.PENDING, None
    return outcome, NextAction(type=NextActionType.REDIRECT_TO_URL, url=page)
