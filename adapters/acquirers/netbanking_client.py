"""The net banking connector: the Acquirer port over the net banking gateway's API (in the
style of Razorpay's and BillDesk's), for payment_method_type `netbanking`.

Wire glue only; netbanking_codes.py says what the gateway's states and error reasons
mean, json_http.py how the wire's failures read. The payer logs in and approves on their
bank's page: a payment in state `created` is REQUIRES_ACTION with next_action
REDIRECT_TO_URL (the bank's page); `pending` (approved, the bank has not confirmed the
debit) is PENDING, which the worker's poller asks about until it ends. Amounts are
integer paise; no card data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import httpx

from adapters.acquirers.netbanking_codes import operation_status_of, outcome_of
from adapters.acquirers.redirect_connector import RedirectConnector, waiting_for
from adapters.acquirers.settlement_file import SettlementRecord
from core.payments.acquirer import (
    Acquirer,
    AcquirerRejected,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    NetBanking,
    OperationKind,
    OperationResult,
    RefundRequest,
    RejectionCode,
    VoidRequest,
)
from core.shared.money import Money


def _money(body: dict[str, Any]) -> Money:
    return Money(int(body["amount"]), str(body["currency"]).upper())


class NetBankingConnector(RedirectConnector):
    name = "The net banking gateway"

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        source = request.source
        if not isinstance(source, NetBanking):
            raise AcquirerRejected(
                RejectionCode.UNSUPPORTED_PAYMENT_SOURCE,
                "The net banking gateway takes net banking payments.",
            )
        body = {
            "txn_ref": request.attempt_reference,
            "merchant": request.merchant_id,
            "bank": source.bank,
            "amount": request.amount.amount,
            "currency": request.amount.currency,
            "return_url": request.return_url,
        }
        return self._payment(
            await self._data("POST", "/v1/payments", request.attempt_reference, body)
        )

    async def lookup(self, attempt_reference: str) -> AuthorizationResult | None:
        path = f"/v1/payments/{attempt_reference}"
        response = await self._http.send("GET", path, attempt_reference)
        if response.status_code == 404:
            return None
        return self._payment(self._unwrap(response, attempt_reference))

    async def capture(self, request: CaptureRequest) -> OperationResult:
        body = {
            "capture_ref": request.capture_reference,
            "merchant": request.merchant_id,
            "amount": request.amount.amount,
            "currency": request.amount.currency,
            "final": request.final,
        }
        path = f"/v1/payments/{request.attempt_reference}/capture"
        data = await self._data("POST", path, request.capture_reference, body)
        return self._operation(OperationKind.CAPTURE, data)

    async def void(self, request: VoidRequest) -> OperationResult:
        path = f"/v1/payments/{request.attempt_reference}/cancel"
        reference = f"cancel-{request.attempt_reference}"
        data = await self._data("POST", path, reference, {"merchant": request.merchant_id})
        return self._operation(OperationKind.VOID, data)

    async def refund(self, request: RefundRequest) -> OperationResult:
        body = {
            "refund_ref": request.refund_reference,
            "merchant": request.merchant_id,
            "amount": request.amount.amount,
            "currency": request.amount.currency,
        }
        path = f"/v1/payments/{request.attempt_reference}/refunds"
        data = await self._data("POST", path, request.refund_reference, body)
        return self._operation(OperationKind.REFUND, data)

    async def settlement_records(self, day: date) -> Sequence[SettlementRecord]:
        """The gateway's reconciliation report of `day`, as settlement records."""
        data = await self._data("GET", f"/v1/recon?day={day.isoformat()}", day.isoformat())
        return [
            SettlementRecord(
                reference=line["ref"],
                kind=OperationKind.CAPTURE if line["entity"] == "payment" else OperationKind.REFUND,
                amount=_money(line),
                booked_at=datetime.fromisoformat(line["settled_at"]),
                attempt_reference=line["txn_ref"],
                merchant_id=line["merchant"],
                acquirer_reference=line["id"],
            )
            for line in data["items"]
        ]

    # --- the wire --------------------------------------------------------------------

    async def _data(
        self, method: str, path: str, reference: str, body: dict[str, Any] | None = None
    ) -> Any:
        return self._unwrap(await self._http.send(method, path, reference, body), reference)

    def _unwrap(self, response: httpx.Response, reference: str) -> Any:
        data = self._http.body(response, reference)
        if response.status_code >= 400:
            problem = data.get("error") or {}
            reason = str(problem.get("reason") or "")
            try:
                rejection = RejectionCode(reason)
            except ValueError:
                rejection = RejectionCode.INVALID_PAYMENT_DETAILS
            raise AcquirerRejected(rejection, str(problem.get("description") or reason))
        return data

    @staticmethod
    def _payment(data: dict[str, Any]) -> AuthorizationResult:
        state = str(data["state"])
        reason = str(data.get("error_reason") or "")
        outcome, decline = outcome_of(state, reason)
        outcome, action = waiting_for(outcome, str(data.get("redirect_url") or ""))
        return AuthorizationResult(
            attempt_reference=str(data["txn_ref"]),
            outcome=outcome,
            amount=_money(data),
            acquirer_reference=str(data["id"]),
            decline_code=decline,
            acquirer_code=reason or state,
            authorization_code=str(data.get("bank_ref") or ""),
            next_action=action,
        )

    @staticmethod
    def _operation(kind: OperationKind, data: dict[str, Any]) -> OperationResult:
        return OperationResult(
            kind=kind,
            attempt_reference=str(data["txn_ref"]),
            reference=str(data["ref"]),
            status=operation_status_of(str(data["status"])),
            amount=_money(data),
            acquirer_reference=str(data["id"]),
            acquirer_code=str(data["status"]),
        )


if TYPE_CHECKING:  # mypy proves the connector fits the port
    _port: Acquirer = NetBankingConnector("http://127.0.0.1:1")
