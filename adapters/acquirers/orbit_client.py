"""The Orbit connector: the Acquirer port over Orbit's JSON API (httpx, loopback).

Wire glue only; what Orbit's statuses and decline codes mean is orbit_codes.py. The
port's semantics on HTTP (json_http.py: unreachable = not sent, no answer or a 5xx =
outcome unknown), and Orbit's shapes:

    402 card_error                             a DECLINED result (decline_code mapped)
    400 invalid_request_error                  AcquirerRejected with Orbit's code
    404 on a lookup                            None: Orbit never received the charge

A sale (the request's `capture_reference`) is a charge with `capture: true` and that
`capture_reference`; the charge answers its capture (`capture`, null when none), which
the result carries, on the charge's creation and on every GET of it.

Every request carries our reference as `Idempotency-Key`, so a repeat acts once. The card
is sent in the body as Orbit requires; this connector runs in the cardholder-data zone
and logs no request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import httpx

from adapters.acquirers.json_http import JsonHttp
from adapters.acquirers.orbit_codes import decline_of, operation_status_of, outcome_of
from adapters.acquirers.settlement_file import SettlementRecord
from core.payments.acquirer import (
    Acquirer,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    OperationKind,
    OperationResult,
    RefundRequest,
    VoidRequest,
)
from core.shared.money import Money


class OrbitConnector(JsonHttp):
    name = "Orbit"

    # --- the port --------------------------------------------------------------------

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        card = self.card_of(request)
        source: dict[str, Any] = {
            "number": card.number.reveal(),
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "brand": card.brand,
        }
        if card.cvc is not None:
            source["cvc"] = card.cvc.reveal()
        body = {
            **self._movement(request.attempt_reference, request.merchant_id, request.amount),
            "source": source,
            "capture": bool(request.capture_reference),
        }
        if request.capture_reference:
            body["capture_reference"] = request.capture_reference
        if request.require_authentication:  # Orbit answers authentication_required
            body["three_d_secure"] = "required"
        response = await self.send("POST", "/v1/charges", request.attempt_reference, body)
        if response.status_code == 402:
            error = response.json()["error"]
            outcome, decline = decline_of(error.get("decline_code"))
            return AuthorizationResult(
                attempt_reference=request.attempt_reference,
                outcome=outcome,
                amount=request.amount,
                acquirer_reference=str(error.get("charge") or ""),
                decline_code=decline,
                acquirer_code=str(error.get("decline_code") or ""),
                message=str(error.get("message") or ""),
            )
        return self._charge(self._ok(response, request.attempt_reference))

    async def lookup(self, attempt_reference: str) -> AuthorizationResult | None:
        response = await self.send("GET", f"/v1/charges/{attempt_reference}", attempt_reference)
        if response.status_code == 404:
            return None
        return self._charge(self._ok(response, attempt_reference))

    async def capture(self, request: CaptureRequest) -> OperationResult:
        body = {
            **self._movement(request.capture_reference, request.merchant_id, request.amount),
            "final": request.final,
        }
        path = f"/v1/charges/{request.attempt_reference}/capture"
        response = await self.send("POST", path, request.capture_reference, body)
        return self._operation(OperationKind.CAPTURE, self._ok(response, request.capture_reference))

    async def void(self, request: VoidRequest) -> OperationResult:
        path = f"/v1/charges/{request.attempt_reference}/cancel"
        body = {"merchant": request.merchant_id, "reason": request.reason}
        response = await self.send("POST", path, f"void-{request.attempt_reference}", body)
        return self._operation(OperationKind.VOID, self._ok(response, request.attempt_reference))

    async def refund(self, request: RefundRequest) -> OperationResult:
        body = {
            "charge": request.attempt_reference,
            **self._movement(request.refund_reference, request.merchant_id, request.amount),
        }
        response = await self.send("POST", "/v1/refunds", request.refund_reference, body)
        return self._operation(OperationKind.REFUND, self._ok(response, request.refund_reference))

    async def settlement_records(self, day: date) -> Sequence[SettlementRecord]:
        """Orbit's settlement file of `day`, as settlement records."""
        response = await self.send("GET", f"/v1/settlement?day={day.isoformat()}", day.isoformat())
        lines = self._ok(response, day.isoformat())["data"]
        return [
            SettlementRecord(
                reference=line["reference"],
                kind=OperationKind.CAPTURE if line["type"] == "charge" else OperationKind.REFUND,
                amount=Money(int(line["amount"]), str(line["currency"]).upper()),
                booked_at=datetime.fromisoformat(line["booked_at"]),
                attempt_reference=line["charge"],
                merchant_id=line["merchant"],
                acquirer_reference=line["id"],
            )
            for line in lines
        ]

    # --- the wire --------------------------------------------------------------------

    def _movement(self, reference: str, merchant_id: str, amount: Money) -> dict[str, Any]:
        return self.movement(reference, merchant_id, amount, lower_currency=True)  # Stripe's

    def _ok(self, response: httpx.Response, reference: str) -> dict[str, Any]:
        body = self.body(response, reference)
        if response.status_code >= 400:
            error = body.get("error", {})
            raise self.rejection(str(error.get("code", "")), str(error.get("message") or ""))
        return body

    @classmethod
    def _charge(cls, charge: dict[str, Any]) -> AuthorizationResult:
        outcome = outcome_of(str(charge["status"]))
        decline = None
        if outcome is AuthorizationOutcome.DECLINED:
            outcome, decline = decline_of(charge.get("decline_code"))
        return AuthorizationResult(
            attempt_reference=str(charge["reference"]),
            outcome=outcome,
            amount=Money(int(charge["amount"]), str(charge["currency"]).upper()),
            acquirer_reference=str(charge["id"]),
            decline_code=decline,
            acquirer_code=str(charge.get("decline_code") or charge["status"]),
            authorization_code=str(charge.get("auth_code") or ""),
            message=str(charge.get("failure_message") or ""),
            capture=cls._operation(OperationKind.CAPTURE, charge["capture"])
            if charge.get("capture")
            else None,
        )

    @staticmethod
    def _operation(kind: OperationKind, body: dict[str, Any]) -> OperationResult:
        return OperationResult(
            kind=kind,
            attempt_reference=str(body["charge"]),
            reference=str(body["reference"]),
            status=operation_status_of(str(body["status"])),
            amount=Money(int(body["amount"]), str(body["currency"]).upper()),
            acquirer_reference=str(body["id"]),
            acquirer_code=str(body["status"]),
        )


if TYPE_CHECKING:  # mypy proves the connector fits the port
    _port: Acquirer = OrbitConnector("http://127.0.0.1:1")
