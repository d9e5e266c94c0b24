"""What the simulated JSON PSPs (orbit_simulator.py, kora_simulator.py) share: an aiohttp
application over a PSP's books whose errors middleware turns the books' answers into the
PSP's own error shape, and the reading of the fields every request that moves money
carries (reference, merchant, amount in minor units, currency).

A subclass lists its routes and renders its refusals (`refused`) and a lost network reply
(`reply_lost`) in its shapes.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from core.payments.acquirer import (
    AcquirerError,
    AcquirerRejected,
    AcquirerTimeout,
    AuthorizationRequest,
    Card,
    RejectionCode,
)
from core.shared.money import Money
from core.shared.secret import Secret
from sandbox.psp.card_books import CardPspBooks

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class JsonPspServer(ABC):
    books: CardPspBooks
    # A body the PSP cannot read: its code and message (a 400).
    MALFORMED_CODE = "parameter_invalid"
    MALFORMED_MESSAGE = "Malformed request."

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        app.add_routes(self.routes())
        return app

    @abstractmethod
    def routes(self) -> list[web.RouteDef]: ...

    @abstractmethod
    def refused(self, status: int, code: str, message: str) -> web.Response:
        """A refused request (the books' rejection code, or malformed) in the PSP's shape."""

    @abstractmethod
    def reply_lost(self) -> web.Response:
        """The network's reply was lost: a 5xx, the charge may exist."""

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except AcquirerTimeout:
            return self.reply_lost()
        except AcquirerRejected as rejected:
            return self.refused(400, rejected.code.value, rejected.message)
        except (KeyError, TypeError, ValueError, json.JSONDecodeError):
            return self.refused(400, self.MALFORMED_CODE, self.MALFORMED_MESSAGE)
        except AcquirerError as error:
            return self.refused(500, "internal", str(error))


def money(body: Mapping[str, Any]) -> Money:
    """The amount of a request body (minor units), whatever case its currency is in."""
    return Money(int(body["amount"]), str(body["currency"]).upper())


def authorization(
    body: Mapping[str, Any], card: Card, *, require_authentication: bool, sale: bool = False
) -> AuthorizationRequest:
    """The authorization a charge body asks for; with `sale`, captured in the same message
    under the body's `capture_reference` (a sale without one is refused, naming it)."""
    capture_reference = str(body.get("capture_reference") or "") if sale else ""
    if sale and not capture_reference:
        raise AcquirerRejected(
            RejectionCode.INVALID_PAYMENT_DETAILS,
            "capture_reference is required to capture a charge when it is made.",
        )
    return AuthorizationRequest(
        attempt_reference=str(body["reference"]),
        merchant_id=str(body["merchant"]),
        amount=money(body),
        source=card,
        require_authentication=require_authentication,
        capture_reference=capture_reference,
    )


def card(number: Any, exp_month: Any, exp_year: Any, cvc: Any, brand: Any = "") -> Card:
    return Card(
        number=Secret(str(number)),
        exp_month=int(exp_month),
        exp_year=int(exp_year),
        brand=str(brand or ""),
        cvc=Secret(str(cvc)) if cvc else None,
    )
