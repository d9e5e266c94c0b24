"""Kora: a simulated JSON card PSP in the style of Paystack's API, over HTTP.

Paystack's shapes, not Orbit's: every body is an envelope `{status: bool, message, data}`;
a declined charge is a 200 with `data.status: "failed"` and a human `gateway_response`
("Insufficient Funds"), not an HTTP error; amounts are in minor units; card holds are
"preauthorizations", and a charge without one is debited at once.

    POST /charge                       {reference, merchant, amount, currency,
                                        card: {number, cvv, expiry_month, expiry_year},
                                        preauthorization: true}
                                       -> data {id, reference, status: success | failed,
                                          gateway_response, amount, currency,
                                          authorization: {authorization_code}, debit: null}
    POST /charge                       {..., capture_reference} without preauthorization:
                                        a sale, debited when approved under
                                        capture_reference; `data.debit` is that capture
                                        (as /preauthorization/capture with that reference
                                        answers it)
    GET  /transaction/verify/{reference}   the same data; 404 {status: false} if unknown
    POST /preauthorization/capture     {reference, capture_reference, merchant, amount,
                                        currency, final}
    POST /preauthorization/release     {reference, merchant}
    POST /refund                       {transaction, reference, merchant, amount, currency}
    GET  /settlements/transactions?date=D  data: [{type: debit | refund, reference,
                                        transaction, merchant, amount, currency, id,
                                        settled_at}]

`authentication: "3DS"` on a charge (the gateway asks for 3-D Secure) is answered
"Authentication Required": Kora runs no 3-D Secure.

Errors: 400 `{status: false, message, code}` (the books' rejection code) when a request
is refused as such; 504 `{status: false, message: "Gateway timeout"}` when the network's
reply was lost (the charge may exist: verify it). Books journaled under
`<data_dir>/psp/kora.jsonl`. Test cards: the card network's, with Kora's gateway
responses (TEST_CARDS).
"""

from __future__ import annotations

import secrets
from datetime import date
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.acquirers.settlement_file import SettlementRecord
from core.payments.acquirer import (
    AuthorizationOutcome,
    AuthorizationResult,
    CaptureRequest,
    OperationResult,
    RefundRequest,
    VoidRequest,
)
from core.shared.ports import Clock
from sandbox.psp.card_books import CardPspBooks
from sandbox.psp.json_psp import JsonPspServer, authorization, card, money

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
    AUTHENTICATION_REQUIRED = "Authentication Required"
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
        "debit": None if result.capture is None else operation_json(result.capture),
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


class KoraServer(JsonPspServer):
    MALFORMED_CODE = "invalid_params"
    MALFORMED_MESSAGE = "Invalid request"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/charge", self.charge),
            web.get("/transaction/verify/{reference}", self.verify),
            web.post("/preauthorization/capture", self.capture),
            web.post("/preauthorization/release", self.release),
            web.post("/refund", self.refund),
            web.get("/settlements/transactions", self.settlement),
        ]

    def refused(self, status: int, code: str, message: str) -> web.Response:
        return refusal(status, message, code)

    def reply_lost(self) -> web.Response:
        return refusal(504, "Gateway timeout")

    async def charge(self, request: web.Request) -> web.Response:
        body = await request.json()
        given = body["card"]
        result = await self.books.authorize(
            authorization(
                body,
                card(
                    given["number"], given["expiry_month"], given["expiry_year"], given.get("cvv")
                ),
                require_authentication=body.get("authentication") == "3DS",
                sale=body.get("preauthorization") is not True,
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
                amount=money(body),
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
                amount=money(body),
            )
        )
        return envelope(operation_json(result), "Refund queued")

    async def settlement(self, request: web.Request) -> web.Response:
        records = await self.books.settlement_records(date.fromisoformat(request.query["date"]))
        return envelope([settlement_json(r) for r in records])


def kora_books(data_dir: Path | None, clock: Clock | None = None) -> KoraBooks:
    return KoraBooks.journaled(data_dir, "kora", clock)
