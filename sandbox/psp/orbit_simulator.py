"""Orbit: a simulated JSON card PSP (in the style of Stripe's charges API), over HTTP.

Its own shapes, spoken at `paygate serve --role psp` (127.0.0.1, aiohttp):

    POST /v1/charges                 {reference, amount, currency, source: {number,
                                      exp_month, exp_year, cvc}, capture: false}
                                     200 charge {id, object: "charge", reference, amount,
                                      currency, status: requires_capture | canceled |
                                      succeeded | failed, decline_code, failure_message,
                                      auth_code, captured, capture}
    POST /v1/charges                 {..., capture: true, capture_reference} a sale: the
                                      charge captured when approved, under
                                      capture_reference; `captured: true`, status
                                      succeeded, `capture` the capture (as .../capture
                                      with that reference answers it)
                                     402 {error: {type: card_error, code: card_declined,
                                      decline_code, message, charge}}
    GET  /v1/charges/{reference}     the charge, or 404 {error: {type:
                                      invalid_request_error, code: resource_missing}}
    POST /v1/charges/{reference}/capture {amount, reference, final} -> the capture
    POST /v1/charges/{reference}/cancel  {} -> the cancellation
    POST /v1/refunds                 {charge: reference, amount, reference} -> the refund
    GET  /v1/settlement?day=D        {object: list, data: [{type: charge | refund,
                                      reference, charge, merchant, amount, currency, id,
                                      booked_at}]} (its settlement file)

A charge's `capture` is null but for a sale's. `three_d_secure: "required"` on a charge
(the gateway's risk engine asks for 3-D Secure) is answered `authentication_required`:
Orbit runs no 3-D Secure, so a sale is approved and captured, or declined with nothing
captured.

Errors: 400 {error: {type: invalid_request_error, code, message}} when the request is
refused as such (code = the books' rejection code); 502 {error: {type: api_error, code:
upstream_timeout}} when the network's reply was lost (the charge may exist: ask again).
Every request's `Idempotency-Key` header is our reference.

The books are paygate's simulated books (sandbox/acquirer/simulation.py, journaled under
`<data_dir>/psp/orbit.jsonl`), so captures, refunds and voids keep the same rules as the
card network's. Test cards are the card network's (API.md), with Orbit's own codes:
decline codes are Stripe's vocabulary, which adapters/acquirers/orbit_codes.py maps.
"""

from __future__ import annotations

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
    OperationStatus,
    RefundRequest,
    VoidRequest,
)
from core.shared.ports import Clock
from sandbox.psp.card_books import CardPspBooks
from sandbox.psp.json_psp import JsonPspServer, authorization, card, money

APPROVED = "approved"
REPLY_LOST = "reply_lost"
DECLINED_MESSAGE = "Your card was declined."
# The test cards of API.md, in Orbit's decline codes.
TEST_CARDS: dict[str, str] = {
    "4000000000000002": "generic_decline",
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
    "4000000000000127": "incorrect_cvc",
    "4000000000000119": "processing_error",
    "4000000000000408": REPLY_LOST,
    "4100000000000019": "fraudulent",
    "4000002760003184": "authentication_required",
}


class OrbitBooks(CardPspBooks):
    """Orbit's books: authorizations with Orbit's codes, the shared capture/refund rules."""

    reference_prefix = "ch"
    name = "Orbit"
    APPROVED = APPROVED
    REPLY_LOST = REPLY_LOST
    TEST_CARDS = TEST_CARDS


# --- the wire ---------------------------------------------------------------------------


def _captured(result: AuthorizationResult) -> bool:
    return result.capture is not None and result.capture.status is OperationStatus.SUCCEEDED


def _status(result: AuthorizationResult) -> str:
    if result.outcome is AuthorizationOutcome.CANCELED:
        return "canceled"
    if result.outcome is AuthorizationOutcome.APPROVED:
        return "succeeded" if _captured(result) else "requires_capture"
    return "failed"


def charge_json(result: AuthorizationResult, merchant_id: str = "") -> dict[str, Any]:
    declined = result.outcome is not AuthorizationOutcome.APPROVED
    capture = result.capture
    return {
        "id": result.acquirer_reference,
        "object": "charge",
        "reference": result.attempt_reference,
        "merchant": merchant_id,
        "amount": result.amount.amount,
        "currency": result.amount.currency.lower(),
        "status": _status(result),
        "decline_code": result.acquirer_code if declined and result.acquirer_code else None,
        "failure_message": DECLINED_MESSAGE if _status(result) == "failed" else None,
        "auth_code": result.authorization_code or None,
        "captured": _captured(result),
        "capture": None if capture is None else operation_json(capture),
    }


def operation_json(result: OperationResult) -> dict[str, Any]:
    return {
        "id": result.acquirer_reference,
        "object": result.kind.value.lower(),
        "reference": result.reference,
        "charge": result.attempt_reference,
        "amount": result.amount.amount,
        "currency": result.amount.currency.lower(),
        "status": result.status.value.lower(),
        "failure_code": result.failure_code.value if result.failure_code else None,
    }


def settlement_json(record: SettlementRecord) -> dict[str, Any]:
    return {
        "type": "charge" if record.kind.value == "CAPTURE" else "refund",
        "reference": record.reference,
        "charge": record.attempt_reference,
        "merchant": record.merchant_id,
        "amount": record.amount.amount,
        "currency": record.amount.currency.lower(),
        "id": record.acquirer_reference,
        "booked_at": record.booked_at.isoformat(),
    }


def _error(status: int, kind: str, code: str, message: str, **extra: Any) -> web.Response:
    body = {"error": {"type": kind, "code": code, "message": message, **extra}}
    return web.json_response(body, status=status)


class OrbitServer(JsonPspServer):
    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/charges", self.create_charge),
            web.get("/v1/charges/{reference}", self.get_charge),
            web.post("/v1/charges/{reference}/capture", self.capture),
            web.post("/v1/charges/{reference}/cancel", self.cancel),
            web.post("/v1/refunds", self.refund),
            web.get("/v1/settlement", self.settlement),
        ]

    def refused(self, status: int, code: str, message: str) -> web.Response:
        return _error(status, "invalid_request_error" if status < 500 else "api_error", code,
                      message)  # fmt: skip

    def reply_lost(self) -> web.Response:
        return _error(502, "api_error", "upstream_timeout", "The network did not answer.")

    async def create_charge(self, request: web.Request) -> web.Response:
        body = await request.json()
        source = body["source"]
        result = await self.books.authorize(
            authorization(
                body,
                card(
                    source["number"],
                    source["exp_month"],
                    source["exp_year"],
                    source.get("cvc"),
                    source.get("brand"),
                ),
                require_authentication=body.get("three_d_secure") == "required",
                sale=body.get("capture") is True,
            )
        )
        charge = charge_json(result, str(body["merchant"]))
        if result.outcome is not AuthorizationOutcome.APPROVED:
            return _error(
                402,
                "card_error",
                "card_declined",
                DECLINED_MESSAGE,
                decline_code=result.acquirer_code,
                charge=charge["id"],
            )
        return web.json_response(charge)

    async def get_charge(self, request: web.Request) -> web.Response:
        result = await self.books.lookup(request.match_info["reference"])
        if result is None:
            return _error(404, "invalid_request_error", "resource_missing", "No such charge.")
        return web.json_response(charge_json(result))

    async def capture(self, request: web.Request) -> web.Response:
        body = await request.json()
        result = await self.books.capture(
            CaptureRequest(
                attempt_reference=request.match_info["reference"],
                capture_reference=str(body["reference"]),
                merchant_id=str(body["merchant"]),
                amount=money(body),
                final=bool(body.get("final", True)),
            )
        )
        return web.json_response(operation_json(result))

    async def cancel(self, request: web.Request) -> web.Response:
        body = await request.json()
        result = await self.books.void(
            VoidRequest(request.match_info["reference"], str(body["merchant"]))
        )
        return web.json_response(operation_json(result))

    async def refund(self, request: web.Request) -> web.Response:
        body = await request.json()
        result = await self.books.refund(
            RefundRequest(
                attempt_reference=str(body["charge"]),
                refund_reference=str(body["reference"]),
                merchant_id=str(body["merchant"]),
                amount=money(body),
            )
        )
        return web.json_response(operation_json(result))

    async def settlement(self, request: web.Request) -> web.Response:
        day = date.fromisoformat(request.query["day"])
        records = await self.books.settlement_records(day)
        return web.json_response({"object": "list", "data": [settlement_json(r) for r in records]})


def orbit_books(data_dir: Path | None, clock: Clock | None = None) -> OrbitBooks:
    return OrbitBooks.journaled(data_dir, "orbit", clock)
