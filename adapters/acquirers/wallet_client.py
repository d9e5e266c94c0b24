"""The wallet connector: the Acquirer port over the wallet aggregator's API (in the style
of Paytm's), for payment_method_type `wallet`.

Wire glue only; wallet_codes.py says what the wallet's statuses and result codes mean,
json_http.py how the wire's failures read. The payer approves on the wallet's page: a
payment waiting for them is REQUIRES_ACTION with next_action REDIRECT_TO_URL (the page),
and the gateway hears of the answer by asking (`lookup`, the worker's poller) when the
payer comes back or not. Amounts travel as rupee strings ("500.00"); no card data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import httpx

from adapters.acquirers.redirect_connector import RedirectConnector, waiting_for
from adapters.acquirers.settlement_file import SettlementRecord
from adapters.acquirers.wallet_codes import minor_units, operation_status_of, outcome_of, rupees
from core.payments.acquirer import (
    Acquirer,
    AcquirerRejected,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    OperationKind,
    OperationResult,
    RefundRequest,
    RejectionCode,
    VoidRequest,
    Wallet,
)


class WalletConnector(RedirectConnector):
    name = "The wallet"

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        wallet = request.source
        if not isinstance(wallet, Wallet):
            raise AcquirerRejected(
                RejectionCode.UNSUPPORTED_PAYMENT_SOURCE, "The wallet takes wallet payments."
            )
        body = {
            "mid": request.merchant_id,
            "orderId": request.attempt_reference,
            "walletType": wallet.provider,
            "txnAmount": rupees(request.amount),
            "callbackUrl": request.return_url,
        }
        return self._payment(
            await self._body("POST", "/v1/payments", request.attempt_reference, body)
        )

    async def lookup(self, attempt_reference: str) -> AuthorizationResult | None:
        response = await self._http.send(
            "GET", f"/v1/payments/{attempt_reference}", attempt_reference
        )
        if response.status_code == 404:
            return None
        return self._payment(self._unwrap(response, attempt_reference))

    async def capture(self, request: CaptureRequest) -> OperationResult:
        body = {
            "mid": request.merchant_id,
            "captureId": request.capture_reference,
            "txnAmount": rupees(request.amount),
            "final": request.final,
        }
        path = f"/v1/payments/{request.attempt_reference}/capture"
        data = await self._body("POST", path, request.capture_reference, body)
        return self._operation(OperationKind.CAPTURE, data)

    async def void(self, request: VoidRequest) -> OperationResult:
        path = f"/v1/payments/{request.attempt_reference}/close"
        reference = f"close-{request.attempt_reference}"
        data = await self._body("POST", path, reference, {"mid": request.merchant_id})
        return self._operation(OperationKind.VOID, data)

    async def refund(self, request: RefundRequest) -> OperationResult:
        body = {
            "mid": request.merchant_id,
            "orderId": request.attempt_reference,
            "refId": request.refund_reference,
            "refundAmount": rupees(request.amount),
        }
        data = await self._body("POST", "/v1/refunds", request.refund_reference, body)
        return self._operation(OperationKind.REFUND, data)

    async def settlement_records(self, day: date) -> Sequence[SettlementRecord]:
        """The wallet's settlement report of `day`, as settlement records."""
        path = f"/v1/settlements?date={day.isoformat()}"
        data = await self._body("GET", path, day.isoformat())
        return [
            SettlementRecord(
                reference=line["refId"],
                kind=OperationKind.CAPTURE if line["txnType"] == "SALE" else OperationKind.REFUND,
                amount=minor_units(line["amount"]),
                booked_at=datetime.fromisoformat(line["settledAt"]),
                attempt_reference=line["orderId"],
                merchant_id=line["mid"],
                acquirer_reference=line["txnId"],
            )
            for line in data["settlements"]
        ]

    # --- the wire --------------------------------------------------------------------

    async def _body(
        self, method: str, path: str, reference: str, body: dict[str, Any] | None = None
    ) -> Any:
        wrapped = None if body is None else {"head": {"requestId": reference}, "body": body}
        return self._unwrap(await self._http.send(method, path, reference, wrapped), reference)

    def _unwrap(self, response: httpx.Response, reference: str) -> Any:
        body = self._http.body(response, reference).get("body") or {}
        if response.status_code >= 400:
            info = body.get("resultInfo") or {}
            code = str(info.get("resultCode") or "")
            try:
                rejection = RejectionCode(code)
            except ValueError:
                rejection = RejectionCode.INVALID_PAYMENT_DETAILS
            raise AcquirerRejected(rejection, str(info.get("resultMsg") or code))
        return body

    @staticmethod
    def _payment(body: dict[str, Any]) -> AuthorizationResult:
        info = body["resultInfo"]
        code = str(info.get("resultCode") or "")
        outcome, decline = outcome_of(str(info["resultStatus"]), code)
        outcome, action = waiting_for(outcome, str(body.get("redirectUrl") or ""))
        return AuthorizationResult(
            attempt_reference=str(body["orderId"]),
            outcome=outcome,
            amount=minor_units(body["txnAmount"]),
            acquirer_reference=str(body["txnId"]),
            decline_code=decline,
            acquirer_code=code,
            authorization_code=str(body.get("bankTxnId") or ""),
            message=str(info.get("resultMsg") or ""),
            next_action=action,
        )

    @staticmethod
    def _operation(kind: OperationKind, body: dict[str, Any]) -> OperationResult:
        info = body["resultInfo"]
        return OperationResult(
            kind=kind,
            attempt_reference=str(body["orderId"]),
            reference=str(body["refId"]),
            status=operation_status_of(str(info["resultStatus"])),
            amount=minor_units(body["amount"]),
            acquirer_reference=str(body["txnId"]),
            acquirer_code=str(info.get("resultCode") or ""),
        )


if TYPE_CHECKING:  # mypy proves the connector fits the port
    _port: Acquirer = WalletConnector("http://127.0.0.1:1")
