"""Kora: a simulated JSON card PSP in the style of Paystack's API, over HTTP.

Paystack's shapes, not Orbit's: every body is an envelope `{status: bool, message, data}`;
a declined charge is a 200 with `data.status: "failed"` and a human `gateway_response`
("Insufficient Funds"), not an HTTP error; amounts are in minor units; card holds are
"preauthorizations".

    POST /charge                       {reference, merchant, amount, currency,
                                        card: {number, cvv, expiry_month, expiry_year}}
                                       -> data {id, reference, status: success | failed,
                                          gateway_response, amount, currency,
                                          authorization: {authorization_code}}
    GET  /transaction/verify/{reference}   the same data; 404 {status: false} if unknown
    POST /preauthorization/capture     {reference, capture_reference, merchant, amount,
                                        currency, final}
    POST /preauthorization/release     {reference, merchant}
    POST /refund                       {transaction, reference, merchant, amount, currency}
    GET  /settlements/transactions?date=D  data: [{type: debit | refund, reference,
                                        transaction, merchant, amount, currency, id,
                                        settled_at}]

Errors: 400 `{status: false, message, code}` (the books' rejection code) when a request
is refused as such; 504 `{status: false, message: "Gateway timeout"}` when the network's
reply was lost (the charge may exist: verify it). Books journaled under
`<data_dir>/psp/kora.jsonl`. Test cards: the card network's, with Kora's gateway
responses (TEST_CARDS).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.acquirers.settlement_file import SettlementRecord
from core.payments.acquirer import (
    AcquirerError,
    AcquirerRejected,
    AcquirerTimeout,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    Card,
    OperationResult,
    RefundRequest,
    VoidRequest,
)
from core.shared.money import Money
from core.shared.ports import Clock
from core.shared.secret import Secret
from sandbox.acquirer.books_journal import BooksJournal
from sandbox.psp.card_books import CardPspBooks

APPROVED = "Approved"
REPLY_LOST = "(reply lost)"
TEST_CARDS: dict[str, str] = {
    "4000000000000002": "Declined",
    "4000000000009995": "Insufficient Funds",
    "4000000000000069": "Expired Card",
    "4000000000000127": "Invalid CVV",
    "4000000000000119": "System Malfunction",
    "4000000000000408": REPLY_LOST,
    "4100000000000019": "Suspected Fraud",
    "4000002760003184": "Authentication Required",
}


class KoraBooks(CardPspBooks):
    reference_prefix = "kora"
    name = "Kora"
    APPROVED = APPROVED
    REPLY_LOST = REPLY_LOST
    INVALID_NUMBER = "Invalid Card Number"
    EXPIRED = "Expired Card"
    TEST_CARDS = TEST_CARDS

    def authorization_code(self) -> str:
        return f"AUTH_{secrets.token_hex(5)}"


def transaction_json(result: AuthorizationResult) -> dict[str, Any]:
    status = {
        AuthorizationOutcome.APPROVED: "success",
        AuthorizationOutcome.CANCELED: "reversed",
    }.get(result.outcome, "failed")
    return {
        "id": result.acquirer_reference,
        "reference": result.attempt_reference,
        "status": status,
        "gateway_response": result.acquirer_code,
        "amount": result.amount.amount,
        "currency": result.amount.currency,
        "authorization": {"authorization_code": result.authorization_code},
    }


def operation_json(result: OperationResult) -> dict[str, Any]:
    return {
        "id": result.acquirer_reference,
        "reference": result.reference,
        "transaction": result.attempt_reference,
        "amount": result.amount.amount,
        "currency": result.amount.currency,
        "status": {"SUCCEEDED": "success", "PENDING": "pending"}.get(result.status.value, "failed"),
    }


def settlement_json(record: SettlementRecord) -> dict[str, Any]:
    return {
        "type": "debit" if record.kind.value == "CAPTURE" else "refund",
        "reference": record.reference,
        "transaction": record.attempt_reference,
        "merchant": record.merchant_id,
        "amount": record.amount.amount,
        "currency": record.amount.currency,
        "id": record.acquirer_reference,
        "settled_at": record.booked_at.isoformat(),
    }


def envelope(data: Any, message: str = "OK") -> web.Response:
    return web.json_response({"status": True, "message": message, "data": data})


def refusal(status: int, message: str, code: str = "") -> web.Response:
    return web.json_response({"status": False, "message": message, "code": code}, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class KoraServer:
    books: KoraBooks

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        app.add_routes(
            [
                web.post("/charge", self.charge),
                web.get("/transaction/verify/{reference}", self.verify),
                web.post("/preauthorization/capture", self.capture),
                web.post("/preauthorization/release", self.release),
                web.post("/refund", self.refund),
                web.get("/settlements/transactions", self.settlement),
            ]
        )
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except AcquirerTimeout:
            return refusal(504, "Gateway timeout")
        except AcquirerRejected as rejected:
            return refusal(400, rejected.message, rejected.code.value)
        except (KeyError, TypeError, ValueError, json.JSONDecodeError):
            return refusal(400, "Invalid request", "invalid_params")
        except AcquirerError as error:
            return refusal(500, str(error))

    async def charge(self, request: web.Request) -> web.Response:
        body = await request.json()
        card = body["card"]
        result = await self.books.authorize(
            AuthorizationRequest(
                attempt_reference=str(body["reference"]),
                merchant_id=str(body["merchant"]),
                amount=Money(int(body["amount"]), str(body["currency"]).upper()),
                source=Card(
                    number=Secret(str(card["number"])),
                    exp_month=int(card["expiry_month"]),
                    exp_year=int(card["expiry_year"]),
                    brand="",
                    cvc=Secret(str(card["cvv"])) if card.get("cvv") else None,
                ),
            )
        )
        return envelope(transaction_json(result), "Charge attempted")

    async def verify(self, request: web.Request) -> web.Response:
        result = await self.books.lookup(request.match_info["reference"])
        if result is None:
            return refusal(404, "Transaction reference not found", "not_found")
        return envelope(transaction_json(result), "Verification successful")

    async def capture(self, request: web.Request) -> web.Response:
        body = await request.json()
        result = await self.books.capture(
            CaptureRequest(
                attempt_reference=str(body["reference"]),
                capture_reference=str(body["capture_reference"]),
                merchant_id=str(body["merchant"]),
                amount=Money(int(body["amount"]), str(body["currency"]).upper()),
                final=bool(body.get("final", True)),
            )
        )
        return envelope(operation_json(result), "Preauthorization captured")

    async def release(self, request: web.Request) -> web.Response:
        body = await request.json()
        result = await self.books.void(VoidRequest(str(body["reference"]), str(body["merchant"])))
        return envelope(operation_json(result), "Preauthorization released")

    async def refund(self, request: web.Request) -> web.Response:
        body = await request.json()
        result = await self.books.refund(
            RefundRequest(
                attempt_reference=str(body["transaction"]),
                refund_reference=str(body["reference"]),
                merchant_id=str(body["merchant"]),
                amount=Money(int(body["amount"]), str(body["currency"]).upper()),
            )
        )
        return envelope(operation_json(result), "Refund queued")

    async def settlement(self, request: web.Request) -> web.Response:
        records = await self.books.settlement_records(date.fromisoformat(request.query["date"]))
        return envelope([settlement_json(r) for r in records])


def kora_books(data_dir: Path | None, clock: Clock | None = None) -> KoraBooks:
    journal = BooksJournal(data_dir / "psp", "kora") if data_dir is not None else None
    return KoraBooks(clock=clock, journal=journal)
