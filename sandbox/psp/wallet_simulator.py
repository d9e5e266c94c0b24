"""A simulated wallet aggregator (Paytm, PhonePe, Amazon Pay, ... in the style of Paytm's
payment API), over HTTP: the payer is sent to the wallet's page and approves there.

Paytm's shapes, not Orbit's or Kora's: every body is `{head, body}`; amounts are rupees
as decimal strings (`txnAmount: {value: "500.00", currency: "INR"}`); a payment answers a
`resultInfo {resultStatus, resultCode, resultMsg}` (wallet_codes.py reads them).

    POST /v1/payments              {head, body: {mid, orderId, walletType, txnAmount,
                                    callbackUrl}} -> body {resultInfo, orderId, txnId,
                                    txnAmount, walletType, bankTxnId, redirectUrl}
    GET  /v1/payments/{orderId}    the same body; 404 (resultCode 334) if unknown
    POST /v1/payments/{orderId}/capture  {body: {mid, captureId, txnAmount, final}}
    POST /v1/payments/{orderId}/close    {body: {mid}}: closes (voids) it
    POST /v1/refunds               {body: {mid, orderId, refId, refundAmount}}
    GET  /v1/settlements?date=D    body {settlements: [{txnType: SALE | REFUND, orderId,
                                    refId, mid, amount, txnId, settledAt}]}
    GET  /pay/{orderId}            the payer's page: mobile number, Approve / Decline
    POST /pay/{orderId}            the payer's answer, then back to callbackUrl

A refused request is a 400 whose resultCode is the books' rejection code. Test accounts
(the mobile number the payer enters): TEST_ACCOUNTS; any other approves.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.acquirers.settlement_file import SettlementRecord
from adapters.acquirers.wallet_codes import WalletCode, meaning_of, minor_units, rupees, status_of
from core.payments.acquirer import (
    AcquirerError,
    AcquirerRejected,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    OperationKind,
    OperationResult,
    PaymentSource,
    RefundRequest,
    VoidRequest,
    Wallet,
)
from core.payments.redirect_methods import WALLET_PROVIDERS, normalize_wallet
from core.shared.ports import Clock
from sandbox.psp import approval_page
from sandbox.psp.redirect_books import Decision, Meaning, RedirectBooks

# The mobile numbers of the wallet's test accounts, and what approving with them does.
TEST_ACCOUNTS: dict[str, Decision] = {
    "9000000001": Decision(WalletCode.INSUFFICIENT_BALANCE),
    "9000000002": Decision(WalletCode.SUCCESS, late=True),
    "9000000003": Decision(WalletCode.RISK_REJECTED),
    "9000000004": Decision(WalletCode.LIMIT_EXCEEDED),
    "9000000005": Decision(WalletCode.SYSTEM_ERROR),
}
APPROVING_ACCOUNT = "9999999999"


class WalletBooks(RedirectBooks):
    reference_prefix = "wlt"
    name = "The wallet"
    AWAITING = WalletCode.AWAITING_PAYER
    LATE = WalletCode.PENDING_AT_WALLET
    APPROVED = WalletCode.SUCCESS
    EXPIRED = WalletCode.EXPIRED
    DECLINED_BY_PAYER = WalletCode.CANCELLED_BY_PAYER
    CANCELED = WalletCode.CLOSED_BY_MERCHANT

    def method_of(self, source: PaymentSource) -> str | None:
        return normalize_wallet(source.provider) if isinstance(source, Wallet) else None

    def decide(self, method: str, identity: str) -> Decision:
        return TEST_ACCOUNTS.get(identity, Decision(WalletCode.SUCCESS))

    def meaning(self, code: str) -> Meaning:
        return meaning_of(code)


def result_info(status: str, code: str, message: str = "") -> dict[str, str]:
    return {"resultStatus": status, "resultCode": code, "resultMsg": message}


def payment_json(result: AuthorizationResult, provider: str, page: str) -> dict[str, Any]:
    status = status_of(result.outcome)
    body: dict[str, Any] = {
        "resultInfo": result_info(status.value, result.acquirer_code, result.message),
        "orderId": result.attempt_reference,
        "txnId": result.acquirer_reference,
        "txnAmount": rupees(result.amount),
        "walletType": provider,
        "bankTxnId": result.authorization_code,
    }
    if result.acquirer_code == WalletCode.AWAITING_PAYER:
        body["redirectUrl"] = page
    return body


def operation_json(result: OperationResult) -> dict[str, Any]:
    status = {"SUCCEEDED": "SUCCESS", "PENDING": "PENDING"}.get(result.status.value, "FAILURE")
    return {
        "resultInfo": result_info(status, result.acquirer_code),
        "orderId": result.attempt_reference,
        "refId": result.reference,
        "txnId": result.acquirer_reference,
        "amount": rupees(result.amount),
    }


def settlement_json(record: SettlementRecord) -> dict[str, Any]:
    return {
        "txnType": "SALE" if record.kind is OperationKind.CAPTURE else "REFUND",
        "orderId": record.attempt_reference,
        "refId": record.reference,
        "mid": record.merchant_id,
        "amount": rupees(record.amount),
        "txnId": record.acquirer_reference,
        "settledAt": record.booked_at.astimezone(UTC).isoformat(),
    }


def reply(body: dict[str, Any], status: int = 200) -> web.Response:
    head = {"responseTimestamp": datetime.now(UTC).isoformat(), "version": "v1"}
    return web.json_response({"head": head, "body": body}, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class WalletServer:
    books: WalletBooks

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        app.add_routes(
            [
                web.post("/v1/payments", self.pay),
                web.get("/v1/payments/{order}", self.status),
                web.post("/v1/payments/{order}/capture", self.capture),
                web.post("/v1/payments/{order}/close", self.close),
                web.post("/v1/refunds", self.refund),
                web.get("/v1/settlements", self.settlement),
                web.get("/pay/{ref}", self._page.show),
                web.post("/pay/{ref}", self._page.answer),
            ]
        )
        return app

    @property
    def _page(self) -> approval_page.ApprovalPage:
        return approval_page.ApprovalPage(
            self.books,
            title_of=lambda provider: f"{WALLET_PROVIDERS.get(provider, provider)} (test wallet)",
            login_label="Wallet mobile number",
            login_name="account",
            decline_label="Decline",
        )

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except AcquirerRejected as rejected:
            return reply(
                {"resultInfo": result_info("F", rejected.code.value, rejected.message)}, 400
            )
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as error:
            return reply({"resultInfo": result_info("F", "invalid_request", str(error))}, 400)
        except AcquirerError as error:
            return reply({"resultInfo": result_info("F", "501", str(error))}, 500)

    @staticmethod
    def _page_url(request: web.Request, order: str) -> str:
        # The page's address as the payer's browser reaches this server.
        mounted_at = request.path.rsplit("/v1/", 1)[0]
        return f"{request.url.origin()}{mounted_at}/pay/{order}"

    async def pay(self, request: web.Request) -> web.Response:
        body = (await request.json())["body"]
        order = str(body["orderId"])
        result = await self.books.authorize(
            AuthorizationRequest(
                attempt_reference=order,
                merchant_id=str(body["mid"]),
                amount=minor_units(body["txnAmount"]),
                source=Wallet(str(body["walletType"])),
                return_url=str(body.get("callbackUrl") or ""),
            )
        )
        return reply(payment_json(result, str(body["walletType"]), self._page_url(request, order)))

    async def status(self, request: web.Request) -> web.Response:
        order = request.match_info["order"]
        result = await self.books.lookup(order)
        if result is None:
            return reply({"resultInfo": result_info("TXN_FAILURE", "334", "Invalid Order Id")}, 404)
        _, provider, _ = await self.books.page(order)
        return reply(payment_json(result, provider, self._page_url(request, order)))

    async def capture(self, request: web.Request) -> web.Response:
        body = (await request.json())["body"]
        result = await self.books.capture(
            CaptureRequest(
                attempt_reference=request.match_info["order"],
                capture_reference=str(body["captureId"]),
                merchant_id=str(body["mid"]),
                amount=minor_units(body["txnAmount"]),
                final=bool(body.get("final", True)),
            )
        )
        return reply(operation_json(result))

    async def close(self, request: web.Request) -> web.Response:
        body = (await request.json())["body"]
        result = await self.books.void(VoidRequest(request.match_info["order"], str(body["mid"])))
        return reply(operation_json(result))

    async def refund(self, request: web.Request) -> web.Response:
        body = (await request.json())["body"]
        result = await self.books.refund(
            RefundRequest(
                attempt_reference=str(body["orderId"]),
                refund_reference=str(body["refId"]),
                merchant_id=str(body["mid"]),
                amount=minor_units(body["refundAmount"]),
            )
        )
        return reply(operation_json(result))

    async def settlement(self, request: web.Request) -> web.Response:
        records = await self.books.settlement_records(date.fromisoformat(request.query["date"]))
        return reply({"settlements": [settlement_json(r) for r in records]})


def wallet_books(
    data_dir: Path | None,
    *,
    expiry: float = 600.0,
    late_delay: float = 20.0,
    clock: Clock | None = None,
) -> WalletBooks:
    return WalletBooks.on_disk(
        data_dir, "wallet", expiry=expiry, late_delay=late_delay, clock=clock
    )
