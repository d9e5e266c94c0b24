"""The API's gRPC errors as Stripe's, and what the app answers before it calls the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest

from servers.grpc.errors import build_status
from servers.stripe.app import create_app
from servers.stripe.backend import Backend, api_target
from servers.stripe.errors import from_rpc


def _rpc_error(code: grpc.StatusCode, reason: str, **metadata: str) -> grpc.aio.AioRpcError:
    status = build_status(code, "what went wrong", reason, metadata)
    trailing = grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, "what went wrong")


@pytest.mark.parametrize(
    ("code", "reason", "metadata", "expected"),
    [
        (
            grpc.StatusCode.FAILED_PRECONDITION,
            "CARD_DECLINED",
            {"payment_intent": "pi_1", "decline_code": "insufficient_funds"},
            (402, "card_error", "card_declined", "insufficient_funds", ""),
        ),
        (
            grpc.StatusCode.FAILED_PRECONDITION,
            "CARD_DECLINED",
            {"payment_intent": "pi_1", "decline_code": "expired_card"},
            (402, "card_error", "expired_card", "expired_card", ""),
        ),
        (
            grpc.StatusCode.FAILED_PRECONDITION,
            "PAYMENT_INTENT_UNEXPECTED_STATE",
            {},
            (400, "invalid_request_error", "payment_intent_unexpected_state", "", ""),
        ),
        (
            grpc.StatusCode.INVALID_ARGUMENT,
            "PARAMETER_MISSING",
            {"param": "amount"},
            (400, "invalid_request_error", "parameter_missing", "", "amount"),
        ),
        (
            grpc.StatusCode.INVALID_ARGUMENT,
            "IDEMPOTENCY_KEY_REUSED",
            {"param": "idempotency_key"},
            (400, "idempotency_error", "idempotency_key_in_use", "", ""),
        ),
        (
            grpc.StatusCode.UNAUTHENTICATED,
            "INVALID_API_KEY",
            {},
            (401, "invalid_request_error", "api_key_invalid", "", ""),
        ),
        (
            grpc.StatusCode.NOT_FOUND,
            "RESOURCE_MISSING",
            {},
            (404, "invalid_request_error", "resource_missing", "", ""),
        ),
        (
            grpc.StatusCode.ABORTED,
            "CONFLICT",
            {},
            (409, "invalid_request_error", "conflict", "", ""),
        ),
        (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "RATE_LIMITED",
            {"retry_after": "1"},
            (429, "rate_limit_error", "rate_limited", "", ""),
        ),
        (grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE", {}, (503, "api_error", "unavailable", "", "")),
    ],
)
def test_each_status_becomes_the_error_stripes_sdks_raise_for_it(
    code: grpc.StatusCode, reason: str, metadata: dict[str, str], expected: tuple[Any, ...]
) -> None:
    error = from_rpc(_rpc_error(code, reason, **metadata))
    assert (error.status, error.type, error.code, error.decline_code, error.param) == expected
    body = error.body()["error"]
    assert body["type"] == error.type and body["message"] == "what went wrong"
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        assert error.headers == {"retry-after": "1"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # Port 9 on loopback: nothing answers, and none of these requests gets that far.
    backend = Backend(api_target([("127.0.0.1", 9)]))
    transport = httpx.ASGITransport(app=create_app(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http
    await backend.close()


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["request-id"]
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_an_unknown_parameter_is_refused_before_any_call(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/stripe/v1/payment_intents",
        content="amount=1&currency=usd&transfer_data[destination]=acct_x",
        headers={"content-type": "application/x-www-form-urlencoded", "x-request-id": "req_t"},
    )
    error = _error(response, 400)
    assert (error["code"], error["param"]) == ("parameter_unknown", "transfer_data")
    assert response.headers["request-id"] == "req_t"


async def test_an_unknown_query_parameter_too(client: httpx.AsyncClient) -> None:
    error = _error(await client.get("/stripe/v1/payment_intents?ending_before=pi_1"), 400)
    assert error["param"] == "ending_before"


async def test_an_expansion_is_refused_by_name(client: httpx.AsyncClient) -> None:
    error = _error(await client.get("/stripe/v1/payment_intents/pi_1?expand[]=latest_charge"), 400)
    assert error["param"] == "expand"
    assert "latest_charge" in error["message"]


async def test_a_json_body_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/stripe/v1/refunds", json={"payment_intent": "pi_1"})
    assert "x-www-form-urlencoded" in _error(response, 400)["message"]


async def test_resources_not_served_and_unknown_routes(client: httpx.AsyncClient) -> None:
    charges = _error(await client.post("/stripe/v1/charges", content=""), 404)
    assert charges["code"] == "resource_missing"
    assert "charge" in charges["message"]
    assert _error(await client.get("/stripe/v1/nothing"), 404)["code"] == "resource_missing"
    assert _error(await client.delete("/stripe/v1/payment_intents"), 405)["type"] == (
        "invalid_request_error"
    )


@pytest.mark.parametrize("path", ["/stripe/v1/tokens", "/stripe/v1/payment_methods"])
async def test_a_card_call_without_its_card_names_the_missing_param(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.post(
        path, content="", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    error = _error(response, 400)
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "parameter_missing",
        "card",
    )
    assert error["message"] == "Missing required param: card."


async def test_a_connect_account_header_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/stripe/v1/balance", headers={"stripe-account": "acct_1"})
    assert _error(response, 400)["param"] == "Stripe-Account"


def test_the_api_is_found_locally_or_through_its_service_by_dns() -> None:
    local = [("127.0.0.1", 50061), ("127.0.0.1", 50062)]
    assert api_target(local) == "ipv4:127.0.0.1:50061,127.0.0.1:50062"
    assert api_target(local, "paygate-api:50061") == "dns:///paygate-api:50061"
