"""The Stripe-compatible surface as an ASGI app: one handler per route of surface.ROUTES.

Each handler turns Stripe's parameters into the API's request message, calls the API
process (backend.py) and renders the answer (render.py). Every response carries a
Request-Id header (Envoy's x-request-id when it set one, which the API logs too).
"""

from __future__ import annotations

import base64
import datetime
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import wrappers_pb2
from paygate.v1 import (
    balance_pb2,
    events_pb2,
    payment_intents_pb2,
    payment_methods_pb2,
    refunds_pb2,
    tokens_pb2,
    webhook_endpoints_pb2,
)
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route as StarletteRoute

from servers.stripe import render
from servers.stripe.backend import Backend, Caller, call
from servers.stripe.errors import StripeError, invalid_parameter, missing_parameter, not_found
from servers.stripe.forms import check, parse
from servers.stripe.surface import BY_NAME, REFUSED_RESOURCES, ROUTES, Route, card_for_test_id

Json = dict[str, Any]
PI = payment_intents_pb2.PaymentIntent
FORM = "application/x-www-form-urlencoded"
# Test cards are tokenized with an expiry this many years ahead and a CVC that passes.
TEST_CARD_YEARS = 3
TEST_CVC = "123"


@dataclass(frozen=True)
class Call:
    backend: Backend
    caller: Caller
    params: Mapping[str, Any]
    path: Mapping[str, str]
    url: str

    @property
    def id(self) -> str:
        return self.path["id"]

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


Handler = Callable[[Call], Awaitable[Json]]
HANDLERS: dict[str, Handler] = {}


def handles(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name not in BY_NAME:
            raise LookupError(f"{name} is not declared in servers/stripe/surface.py")
        HANDLERS[name] = handler
        return handler

    return register


async def _one(c: Call, method: Any, request: Any, shape: Callable[[Json], Json]) -> Json:
    """One call to the API, its answer in Stripe's shape."""
    return shape(render.as_json(await call(method, request, c.caller)))


async def _page(c: Call, method: Any, request: Any, shape: Callable[[Json], Json]) -> Json:
    """A list call to the API as Stripe's list object."""
    answer = await call(method, request, c.caller)
    return render.page(c.url, [shape(render.as_json(x)) for x in answer.data], answer.has_more)


# --- payment methods: Stripe's test ids become tokens of the vault --------------------------


async def _tokenize(c: Call, number: str, fields: Mapping[str, Any] | None = None) -> Any:
    """A token of the vault (tokens_pb2.Token) for this card."""
    fields = fields or {}
    year = datetime.datetime.now(datetime.UTC).year + TEST_CARD_YEARS
    card = tokens_pb2.CardInput(
        number=number,
        exp_month=fields.get("exp_month", 12),
        exp_year=fields.get("exp_year", year),
        cvc=fields.get("cvc", TEST_CVC),
        name=fields.get("name", ""),
    )
    request = tokens_pb2.CreateTokenRequest(card=card)
    return await call(c.backend.tokens.CreateToken, request, c.caller)


async def _payment_method(c: Call, value: str) -> str:
    """A paygate tok_/pm_ id as it is; a Stripe test id as a fresh token of its test card."""
    number = card_for_test_id(value)
    return str((await _tokenize(c, number)).id) if number is not None else value


# --- payment intents ------------------------------------------------------------------------


async def _intent_json(c: Call, intent_id: str) -> Json:
    request = payment_intents_pb2.GetPaymentIntentRequest(id=intent_id)
    return await _one(c, c.backend.payment_intents.GetPaymentIntent, request, render.payment_intent)


async def _confirm(c: Call, intent_id: str, payment_method: str, return_url: str) -> Json:
    request = payment_intents_pb2.ConfirmPaymentIntentRequest(
        id=intent_id,
        payment_method=await _payment_method(c, payment_method) if payment_method else "",
        return_url=return_url,
    )
    try:
        intent = await call(c.backend.payment_intents.ConfirmPaymentIntent, request, c.caller)
    except StripeError as error:
        if error.type == "card_error":  # Stripe's card errors carry the intent as it is now
            error.payment_intent = await _intent_json(c, intent_id)
        raise
    return render.payment_intent(render.as_json(intent))


@handles("POST /v1/payment_intents")
async def create_payment_intent(c: Call) -> Json:
    if c.get("payment_method") and not c.get("confirm"):
        raise invalid_parameter(
            "payment_method", "is taken together with confirm=true only (or on confirm)."
        )
    manual = c.get("capture_method") == "manual"
    request = payment_intents_pb2.CreatePaymentIntentRequest(
        amount=c.get("amount", 0),
        currency=c.get("currency", ""),
        capture_method=PI.MANUAL if manual else PI.AUTOMATIC,
        payment_method_types=c.get("payment_method_types", []),
        description=c.get("description", ""),
        metadata=c.get("metadata", {}),
        receipt_email=c.get("receipt_email", ""),
        return_url=c.get("return_url", ""),
    )
    intent = await call(c.backend.payment_intents.CreatePaymentIntent, request, c.caller)
    if not c.get("confirm"):
        return render.payment_intent(render.as_json(intent))
    return await _confirm(c, intent.id, c.get("payment_method", ""), c.get("return_url", ""))


@handles("GET /v1/payment_intents/{id}")
async def retrieve_payment_intent(c: Call) -> Json:
    request = payment_intents_pb2.GetPaymentIntentRequest(
        id=c.id, client_secret=c.get("client_secret", "")
    )
    return await _one(c, c.backend.payment_intents.GetPaymentIntent, request, render.payment_intent)


@handles("POST /v1/payment_intents/{id}")
async def update_payment_intent(c: Call) -> Json:
    request = payment_intents_pb2.UpdatePaymentIntentRequest(
        id=c.id, metadata=c.get("metadata", {})
    )
    for name in ("description", "receipt_email"):
        if name in c.params:
            getattr(request, name).CopyFrom(wrappers_pb2.StringValue(value=c.get(name)))
    return await _one(
        c, c.backend.payment_intents.UpdatePaymentIntent, request, render.payment_intent
    )


@handles("POST /v1/payment_intents/{id}/confirm")
async def confirm_payment_intent(c: Call) -> Json:
    return await _confirm(c, c.id, c.get("payment_method", ""), c.get("return_url", ""))


@handles("POST /v1/payment_intents/{id}/capture")
async def capture_payment_intent(c: Call) -> Json:
    request = payment_intents_pb2.CapturePaymentIntentRequest(
        id=c.id, amount_to_capture=c.get("amount_to_capture", 0)
    )
    return await _one(
        c, c.backend.payment_intents.CapturePaymentIntent, request, render.payment_intent
    )


@handles("POST /v1/payment_intents/{id}/cancel")
async def cancel_payment_intent(c: Call) -> Json:
    request = payment_intents_pb2.CancelPaymentIntentRequest(
        id=c.id, cancellation_reason=c.get("cancellation_reason", "").upper()
    )
    return await _one(
        c, c.backend.payment_intents.CancelPaymentIntent, request, render.payment_intent
    )


@handles("GET /v1/payment_intents")
async def list_payment_intents(c: Call) -> Json:
    request = payment_intents_pb2.ListPaymentIntentsRequest(
        limit=c.get("limit", 0), starting_after=c.get("starting_after", "")
    )
    return await _page(
        c, c.backend.payment_intents.ListPaymentIntents, request, render.payment_intent
    )


# --- refunds --------------------------------------------------------------------------------


@handles("POST /v1/refunds")
async def create_refund(c: Call) -> Json:
    request = refunds_pb2.CreateRefundRequest(
        payment_intent=c.get("payment_intent", ""),
        amount=c.get("amount", 0),
        reason=c.get("reason", ""),
    )
    return await _one(c, c.backend.refunds.CreateRefund, request, render.refund)


@handles("GET /v1/refunds/{id}")
async def retrieve_refund(c: Call) -> Json:
    request = refunds_pb2.GetRefundRequest(id=c.id)
    return await _one(c, c.backend.refunds.GetRefund, request, render.refund)


@handles("GET /v1/refunds")
async def list_refunds(c: Call) -> Json:
    request = refunds_pb2.ListRefundsRequest(
        payment_intent=c.get("payment_intent", ""),
        limit=c.get("limit", 0),
        starting_after=c.get("starting_after", ""),
    )
    return await _page(c, c.backend.refunds.ListRefunds, request, render.refund)


# --- tokens and payment methods -------------------------------------------------------------


def _card_number(card: Mapping[str, Any], param: str) -> str:
    number = card.get("number", "")
    if not number:
        raise missing_parameter(f"{param}[number]")
    return str(number)


def _card(c: Call) -> Mapping[str, Any]:
    """The card hash of a tokens or payment methods call, which both require."""
    card: Mapping[str, Any] | None = c.get("card")
    if card is None:
        raise missing_parameter("card")
    return card


@handles("POST /v1/tokens")
async def create_token(c: Call) -> Json:
    card = _card(c)
    token = await _tokenize(c, _card_number(card, "card"), card)
    return render.token(render.as_json(token))


@handles("POST /v1/payment_methods")
async def create_payment_method(c: Call) -> Json:
    card = _card(c)
    if card.get("token"):
        if len(card) > 1:
            raise invalid_parameter("card", "card[token] comes alone, without the card's fields.")
        token_id = await _payment_method(c, card["token"])
    else:
        token_id = str((await _tokenize(c, _card_number(card, "card"), card)).id)
    request = payment_methods_pb2.CreatePaymentMethodRequest(token=token_id)
    return await _one(
        c, c.backend.payment_methods.CreatePaymentMethod, request, render.payment_method
    )


@handles("GET /v1/payment_methods/{id}")
async def retrieve_payment_method(c: Call) -> Json:
    request = payment_methods_pb2.GetPaymentMethodRequest(id=c.id)
    return await _one(c, c.backend.payment_methods.GetPaymentMethod, request, render.payment_method)


# --- balance --------------------------------------------------------------------------------


@handles("GET /v1/balance")
async def retrieve_balance(c: Call) -> Json:
    request = balance_pb2.GetBalanceRequest()
    return await _one(c, c.backend.balance.GetBalance, request, render.balance)


@handles("GET /v1/balance_transactions")
async def list_balance_transactions(c: Call) -> Json:
    request = balance_pb2.ListBalanceTransactionsRequest(
        limit=c.get("limit", 0),
        starting_after=c.get("starting_after", ""),
        source=c.get("source", ""),
    )
    return await _page(
        c, c.backend.balance.ListBalanceTransactions, request, render.balance_transaction
    )


# --- events and webhook endpoints -----------------------------------------------------------


@handles("GET /v1/events/{id}")
async def retrieve_event(c: Call) -> Json:
    request = events_pb2.GetEventRequest(id=c.id)
    return await _one(c, c.backend.events.GetEvent, request, render.api_event)


@handles("GET /v1/events")
async def list_events(c: Call) -> Json:
    request = events_pb2.ListEventsRequest(
        type=c.get("type", ""), limit=c.get("limit", 0), starting_after=c.get("starting_after", "")
    )
    return await _page(c, c.backend.events.ListEvents, request, render.api_event)


WE = webhook_endpoints_pb2


@handles("POST /v1/webhook_endpoints")
async def create_webhook_endpoint(c: Call) -> Json:
    request = WE.CreateWebhookEndpointRequest(
        url=c.get("url", ""),
        enabled_events=c.get("enabled_events", []),
        description=c.get("description", ""),
        signature_scheme=WE.WebhookEndpoint.STRIPE,
    )
    return await _one(
        c, c.backend.webhook_endpoints.CreateWebhookEndpoint, request, render.webhook_endpoint
    )


@handles("GET /v1/webhook_endpoints/{id}")
async def retrieve_webhook_endpoint(c: Call) -> Json:
    request = WE.GetWebhookEndpointRequest(id=c.id)
    return await _one(
        c, c.backend.webhook_endpoints.GetWebhookEndpoint, request, render.webhook_endpoint
    )


@handles("POST /v1/webhook_endpoints/{id}")
async def update_webhook_endpoint(c: Call) -> Json:
    request = WE.UpdateWebhookEndpointRequest(id=c.id, enabled_events=c.get("enabled_events", []))
    if "url" in c.params:
        request.url.CopyFrom(wrappers_pb2.StringValue(value=c.get("url")))
    if "description" in c.params:
        request.description.CopyFrom(wrappers_pb2.StringValue(value=c.get("description")))
    if "disabled" in c.params:
        request.disabled.CopyFrom(wrappers_pb2.BoolValue(value=c.get("disabled")))
    return await _one(
        c, c.backend.webhook_endpoints.UpdateWebhookEndpoint, request, render.webhook_endpoint
    )


@handles("DELETE /v1/webhook_endpoints/{id}")
async def delete_webhook_endpoint(c: Call) -> Json:
    request = WE.DeleteWebhookEndpointRequest(id=c.id)
    await call(c.backend.webhook_endpoints.DeleteWebhookEndpoint, request, c.caller)
    return {"id": c.id, "object": "webhook_endpoint", "deleted": True}


@handles("GET /v1/webhook_endpoints")
async def list_webhook_endpoints(c: Call) -> Json:
    request = WE.ListWebhookEndpointsRequest(
        limit=c.get("limit", 0), starting_after=c.get("starting_after", "")
    )
    return await _page(
        c, c.backend.webhook_endpoints.ListWebhookEndpoints, request, render.webhook_endpoint
    )


# --- the app --------------------------------------------------------------------------------

PREFIX = "/stripe"


def _authorization(request: Request) -> str:
    """Bearer as it comes; HTTP Basic with the key as the user name (`curl -u sk_...:`,
    which Stripe's documentation uses) as the same Bearer."""
    value = request.headers.get("authorization", "")
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "basic":
        return value
    try:
        user = base64.b64decode(credentials, validate=True).decode("ascii").partition(":")[0]
    except (ValueError, UnicodeDecodeError):
        return value  # the API answers 401 for it
    return f"Bearer {user}"


def _request_id(request: Request) -> str:
    return request.headers.get("x-request-id") or "req_" + secrets.token_hex(12)


def _respond(
    body: Json, status: int, request_id: str, headers: Mapping[str, str] = {}
) -> JSONResponse:
    return JSONResponse(body, status, headers={**headers, "request-id": request_id})


async def _params(request: Request, route: Route) -> dict[str, Any]:
    values = parse(request.url.query)
    body = await request.body()
    if body:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != FORM:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Send the parameters as {FORM}, not {kind or 'this'}.",
            )
        try:
            values.update(parse(body.decode("utf-8")))
        except UnicodeDecodeError:
            raise StripeError(400, "invalid_request_error", "The body is not UTF-8.") from None
    if "stripe-account" in request.headers:
        raise StripeError(
            400,
            "invalid_request_error",
            "Stripe-Account (Connect) is not supported: each paygate key is one account.",
            code="parameter_unknown",
            param="Stripe-Account",
        )
    params = check(values, route.params)
    for path in params.get("expand", []):
        raise StripeError(
            400,
            "invalid_request_error",
            f"This property cannot be expanded ({path}).",
            code="parameter_invalid",
            param="expand",
        )
    return params


def _endpoint(
    route: Route, handler: Handler, backend: Backend
) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        request_id = _request_id(request)
        caller = Caller(
            authorization=_authorization(request),
            request_id=request_id,
            idempotency_key=request.headers.get("idempotency-key", "")
            if route.method == "POST"
            else "",
            forwarded_for=request.headers.get("x-forwarded-for", ""),
        )
        try:
            params = await _params(request, route)
            call_ = Call(
                backend, caller, params, request.path_params, route.path.split("{")[0].rstrip("/")
            )
            return _respond(await handler(call_), 200, request_id)
        except StripeError as error:
            return _respond(error.body(), error.status, request_id, error.headers)

    return endpoint


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    path = request.url.path.removeprefix(PREFIX)
    if status == 405:
        error = StripeError(
            405, "invalid_request_error", f"{request.method} is not allowed on {path}."
        )
    else:
        why = next((w for p, w in REFUSED_RESOURCES.items() if path.startswith(p)), "")
        error = not_found(f"{request.method} {path}" + (f": {why}" if why else ""))
    return _respond(error.body(), error.status, _request_id(request))


def create_app(backend: Backend) -> Starlette:
    missing = {route.name for route in ROUTES} - set(HANDLERS)
    if missing:
        raise LookupError(f"routes without a handler: {sorted(missing)}")
    routes = [
        StarletteRoute(
            PREFIX + route.path,
            _endpoint(route, HANDLERS[route.name], backend),
            methods=[route.method],
        )
        for route in ROUTES
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
