"""A simulated net banking gateway (in the style of Razorpay's and BillDesk's net banking),
over HTTP: the payer picks a bank, logs in on the bank's page and approves there; some
banks confirm the debit late.

Its own shapes: flat snake_case JSON, amounts as integer paise, a payment `state`
(created, pending, authorized, failed, cancelled) with an `error_reason` on a failure
(netbanking_codes.py reads them), errors as `{error: {code, reason, description}}`.

    POST /v1/payments                  {txn_ref, merchant, bank, amount, currency,
                                        return_url} -> {id, txn_ref, bank, amount, currency,
                                        state, error_reason, bank_ref, redirect_url}
    GET  /v1/payments/{txn_ref}        the same; 404 if unknown
    POST /v1/payments/{txn_ref}/capture  {capture_ref, merchant, amount, currency, final}
    POST /v1/payments/{txn_ref}/cancel   {merchant}
    POST /v1/payments/{txn_ref}/refunds  {refund_ref, merchant, amount, currency}
    GET  /v1/recon?day=D               {items: [{entity: payment | refund, txn_ref, ref,
                                        merchant, amount, currency, id, settled_at}]}
    GET  /bank/{txn_ref}               the bank's page: customer id, Approve / Cancel
    POST /bank/{txn_ref}               the payer's answer, then back to return_url

Test logins (the customer id the payer enters): TEST_LOGINS; any other approves. Banks in
LATE_BANKS confirm every approval late.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.acquirers.netbanking_codes import NetBankingReason, outcome_of, state_of
from adapters.acquirers.settlement_file import SettlementRecord
from core.payments.acquirer import (
    AcquirerError,
    AcquirerRejected,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    NetBanking,
    OperationKind,
    OperationResult,
    PaymentSource,
    RefundRequest,
    VoidRequest,
)
from core.payments.redirect_methods import BANKS, normalize_bank
from core.shared.money import Money
from core.shared.ports import Clock
from sandbox.psp import approval_page
from sandbox.psp.redirect_books import Decision, Meaning, RedirectBooks

# The books' codes: a state for the waiting ones, an error reason for failures.
AWAITING = "created"
LATE = "pending"
AUTHORIZED = "authorized"
CANCELLED = "cancelled"

TEST_LOGINS: dict[str, Decision] = {
    "insufficient": Decision(NetBankingReason.INSUFFICIENT_FUNDS),
    "late": Decision(AUTHORIZED, late=True),
    "wrongpass": Decision(NetBankingReason.INCORRECT_CREDENTIALS),
    "bankdown": Decision(NetBankingReason.BANK_TECHNICAL_ERROR),
    "overlimit": Decision(NetBankingReason.TRANSACTION_LIMIT_EXCEEDED),
    "risky": Decision(NetBankingReason.RISK_CHECK_FAILED),
}
APPROVING_LOGIN = "success"
# Banks whose confirmation always comes late (as some public-sector banks' does).
LATE_BANKS = frozenset({"SBIN"})

_STATE_CODES = {AWAITING, LATE, AUTHORIZED, CANCELLED}


def code_meaning(code: str) -> Meaning:
    """A books code (a state, or a failure's error reason) in paygate's terms."""
    if code in _STATE_CODES:
        return outcome_of(code, "")
    return outcome_of("failed", code)


class NetBankingBooks(RedirectBooks):
    reference_prefix = "nb"
    name = "The net banking gateway"
    AWAITING = AWAITING
    LATE = LATE
    APPROVED = AUTHORIZED
    EXPIRED = NetBankingReason.PAYMENT_TIMED_OUT
    DECLINED_BY_PAYER = NetBankingReason.PAYMENT_CANCELLED
    CANCELED = CANCELLED

    def method_of(self, source: PaymentSource) -> str | None:
        return normalize_bank(source.bank) if isinstance(source, NetBanking) else None

    def decide(self, method: str, identity: str) -> Decision:
        decision = TEST_LOGINS.get(identity.lower(), Decision(AUTHORIZED))
        if method in LATE_BANKS and decision.code == AUTHORIZED:
            return Decision(AUTHORIZED, late=True)
        return decision

    def meaning(self, code: str) -> Meaning:
        return code_meaning(code)


def payment_json(result: AuthorizationResult, bank: str, page: str) -> dict[str, Any]:
    state = state_of(result.outcome)
    failed = result.outcome in (
        AuthorizationOutcome.DECLINED,
        AuthorizationOutcome.RISK_BLOCKED,
        AuthorizationOutcome.PROCESSING_ERROR,
    )
    body: dict[str, Any] = {
        "id": result.acquirer_reference,
        "txn_ref": result.attempt_reference,
        "bank": bank,
        "amount": result.amount.amount,
        "currency": result.amount.currency,
        "state": state.value,
        "error_reason": result.acquirer_code if failed else None,
        "bank_ref": result.authorization_code or None,
    }
    if result.outcome is AuthorizationOutcome.REQUIRES_ACTION:
        body["redirect_url"] = page
    return body


def operation_json(result: OperationResult) -> dict[str, Any]:
    return {
        "entity": result.kind.value.lower(),
        "id": result.acquirer_reference,
        "txn_ref": result.attempt_reference,
        "ref": result.reference,
        "amount": result.amount.amount,
        "currency": result.amount.currency,
        "status": {"SUCCEEDED": "processed", "PENDING": "pending"}.get(
            result.status.value, "failed"
        ),
    }


def settlement_json(record: SettlementRecord) -> dict[str, Any]:
    return {
        "entity": "payment" if record.kind is OperationKind.CAPTURE else "refund",
        "txn_ref": record.attempt_reference,
        "ref": record.reference,
        "merchant": record.merchant_id,
        "amount": record.amount.amount,
        "currency": record.amount.currency,
        "id": record.acquirer_reference,
        "settled_at": record.booked_at.astimezone(UTC).isoformat(),
    }


def error(status: int, reason: str, description: str) -> web.Response:
    code = "BAD_REQUEST_ERROR" if status < 500 else "SERVER_ERROR"
    return web.json_response(
        {"error": {"code": code, "reason": reason, "description": description}}, status=status
    )


def money(body: dict[str, Any]) -> Money:
    return Money(int(body["amount"]), str(body["currency"]).upper())


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class NetBankingServer:
    books: NetBankingBooks

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        app.add_routes(
            [
                web.post("/v1/payments", self.pay),
                web.get("/v1/payments/{ref}", self.status),
                web.post("/v1/payments/{ref}/capture", self.capture),
                web.post("/v1/payments/{ref}/cancel", self.cancel),
                web.post("/v1/payments/{ref}/refunds", self.refund),
                web.get("/v1/recon", self.recon),
                web.get("/bank/{ref}", self._page.show),
                web.post("/bank/{ref}", self._page.answer),
            ]
        )
        return app

    @property
    def _page(self) -> approval_page.ApprovalPage:
        return approval_page.ApprovalPage(
            self.books,
            title_of=lambda bank: f"{BANKS.get(bank, bank)} net banking (test bank)",
            login_label="Customer ID",
            login_name="login",
            decline_label="Cancel",
        )

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except AcquirerRejected as rejected:
            return error(400, rejected.code.value, rejected.message)
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as bad:
            return error(400, "invalid_request", str(bad))
        except AcquirerError as failed:
            return error(500, "server_error", str(failed))

    @staticmethod
    def _page_url(request: web.Request, ref: str) -> str:
        mounted_at = request.path.rsplit("/v1/", 1)[0]
        return f"{request.url.origin()}{mounted_at}/bank/{ref}"

    async def pay(self, request: web.Request) -> web.Response:
        body = await request.json()
        ref = str(body["txn_ref"])
        result = await self.books.authorize(
            AuthorizationRequest(
                attempt_reference=ref,
                merchant_id=str(body["merchant"]),
                amount=money(body),
                source=NetBanking(str(body["bank"])),
                return_url=str(body.get("return_url") or ""),
            )
        )
        return web.json_response(
            payment_json(result, str(body["bank"]), self._page_url(request, ref))
        )

    async def status(self, request: web.Request) -> web.Response:
        ref = request.match_info["ref"]
        result = await self.books.lookup(ref)
        if result is None:
            return error(404, "not_found", f"No payment {ref}.")
        _, bank, _ = await self.books.page(ref)
        return web.json_response(payment_json(result, bank, self._page_url(request, ref)))

    async def capture(self, request: web.Request) -> web.Response:
        body = await request.json()
        result = await self.books.capture(
            CaptureRequest(
                attempt_reference=request.match_info["ref"],
                capture_reference=str(body["capture_ref"]),
                merchant_id=str(body["merchant"]),
                amount=money(body),
                final=bool(body.get("final", True)),
            )
        )
        return web.json_response(operation_json(result))

    async def cancel(self, request: web.Request) -> web.Response:
        body = await request.json()
        result = await self.books.void(
            VoidRequest(request.match_info["ref"], str(body["merchant"]))
        )
        return web.json_response(operation_json(result))

    async def refund(self, request: web.Request) -> web.Response:
        body = await request.json()
        result = await self.books.refund(
            RefundRequest(
                attempt_reference=request.match_info["ref"],
                refund_reference=str(body["refund_ref"]),
                merchant_id=str(body["merchant"]),
                amount=money(body),
            )
        )
        return web.json_response(operation_json(result))

    async def recon(self, request: web.Request) -> web.Response:
        records = await self.books.settlement_records(date.fromisoformat(request.query["day"]))
        return web.json_response({"items": [settlement_json(r) for r in records]})


def netbanking_books(
    data_dir: Path | None,
    *,
    expiry: float = 600.0,
    late_delay: float = 20.0,
    clock: Clock | None = None,
) -> NetBankingBooks:
    return NetBankingBooks.on_disk(
        data_dir, "netbanking", expiry=expiry, late_delay=late_delay, clock=clock
    )
