"""The Kora connector: the Acquirer port over Kora's JSON API (in the style of Paystack).

Wire glue only; kora_codes.py says what Kora's statuses and gateway responses mean, and
json_http.py how the wire's failures read (unreachable = not sent; no answer or a 5xx =
outcome unknown). Kora's own shapes: every body is `{status: bool, message, data}`; a
declined charge is a 200 whose `data.status` is "failed" with a `gateway_response`; a
refused request is a 4xx with `status: false` and a `code`; an unknown reference on
verify is a 404 (Kora never received it).

A charge is a preauthorization (`preauthorization: true`) unless the request is a sale
(its `capture_reference`): then the charge goes without it, is debited at once under that
`capture_reference`, and its `data.debit` (on the charge and on every verify) is the
capture the result carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import httpx

from adapters.acquirers.json_http import JsonHttp
from adapters.acquirers.kora_codes import operation_status_of, outcome_of
from adapters.acquirers.settlement_file import SettlementRecord
from core.payments.acquirer import (
    Acquirer,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    OperationKind,
    OperationResult,
    RefundRequest,
    VoidRequest,
)
from core.shared.money import Money


class KoraConnector(JsonHttp):
    name = "Kora"

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        card = self.card_of(request)
        body: dict[str, Any] = {
            **self.movement(request.attempt_reference, request.merchant_id, request.amount),
            "card": {
                "number": card.number.reveal(),
                "cvv": card.cvc.reveal() if card.cvc is not None else "",
                "expiry_month": card.exp_month,
                "expiry_year": card.exp_year,
            },
        }
        if request.capture_reference:
            body["capture_reference"] = request.capture_reference
        else:
            body["preauthorization"] = True
        if request.require_authentication:  # Kora answers "Authentication Required"
            body["authentication"] = "3DS"
        return self._transaction(
            await self._data("POST", "/charge", request.attempt_reference, body)
        )

    async def lookup(self, attempt_reference: str) -> AuthorizationResult | None:
        path = f"/transaction/verify/{attempt_reference}"
        response = await self.send("GET", path, attempt_reference)
        if response.status_code == 404:
            return None
        return self._transaction(self._unwrap(response, attempt_reference))

    async def capture(self, request: CaptureRequest) -> OperationResult:
        body = {
            **self.movement(request.attempt_reference, request.merchant_id, request.amount),
            "capture_reference": request.capture_reference,
            "final": request.final,
        }
        data = await self._data(
            "POST", "/preauthorization/capture", request.capture_reference, body
        )
        return self._operation(OperationKind.CAPTURE, data)

    async def void(self, request: VoidRequest) -> OperationResult:
        body = {"reference": request.attempt_reference, "merchant": request.merchant_id}
        reference = f"release-{request.attempt_reference}"
        data = await self._data("POST", "/preauthorization/release", reference, body)
        return self._operation(OperationKind.VOID, data)

    async def refund(self, request: RefundRequest) -> OperationResult:
        body = {
            "transaction": request.attempt_reference,
            **self.movement(request.refund_reference, request.merchant_id, request.amount),
        }
        data = await self._data("POST", "/refund", request.refund_reference, body)
        return self._operation(OperationKind.REFUND, data)

    async def settlement_records(self, day: date) -> Sequence[SettlementRecord]:
        """Kora's settlement report of `day`, as settlement records."""
        path = f"/settlements/transactions?date={day.isoformat()}"
        lines = await self._data("GET", path, day.isoformat())
        return [
            SettlementRecord(
                reference=line["reference"],
                kind=OperationKind.CAPTURE if line["type"] == "debit" else OperationKind.REFUND,
                amount=Money(int(line["amount"]), str(line["currency"]).upper()),
                booked_at=datetime.fromisoformat(line["settled_at"]),
                attempt_reference=line["transaction"],
                merchant_id=line["merchant"],
                acquirer_reference=line["id"],
            )
            for line in lines
        ]

    # --- the wire --------------------------------------------------------------------

    async def _data(
        self, method: str, path: str, reference: str, body: dict[str, Any] | None = None
    ) -> Any:
        return self._unwrap(await self.send(method, path, reference, body), reference)

    def _unwrap(self, response: httpx.Response, reference: str) -> Any:
        envelope = self.body(response, reference)
        if response.status_code >= 400 or envelope.get("status") is not True:
            raise self.rejection(
                str(envelope.get("code") or ""), str(envelope.get("message") or "")
            )
        return envelope["data"]

    @classmethod
    def _transaction(cls, data: dict[str, Any]) -> AuthorizationResult:
        response = str(data.get("gateway_response") or "")
        outcome, decline = outcome_of(str(data["status"]), response)
        return AuthorizationResult(
            attempt_reference=str(data["reference"]),
            outcome=outcome,
            amount=Money(int(data["amount"]), str(data["currency"]).upper()),
            acquirer_reference=str(data["id"]),
            decline_code=decline,
            acquirer_code=response,
            authorization_code=str(
                (data.get("authorization") or {}).get("authorization_code") or ""
            ),
            message=response,
            capture=cls._operation(OperationKind.CAPTURE, data["debit"])
            if data.get("debit")
            else None,
        )

    @staticmethod
    def _operation(kind: OperationKind, data: dict[str, Any]) -> OperationResult:
        return OperationResult(
            kind=kind,
            attempt_reference=str(data["transaction"]),
            reference=str(data["reference"]),
            status=operation_status_of(str(data["status"])),
            amount=Money(int(data["amount"]), str(data["currency"]).upper()),
            acquirer_reference=str(data["id"]),
            acquirer_code=str(data["status"]),
        )


if TYPE_CHECKING:  # mypy proves the connector fits the port
    _port: Acquirer = KoraConnector("http://127.0.0.1:1")
