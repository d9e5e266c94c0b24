"""What the Stripe-compatible surface accepts: every route and its parameters.

The one declaration: app.py checks each request against it, and
tests/unit/test_stripe_surface.py holds docs/stripe-compatibility.md to it, row by row.
A parameter with `partial` set is accepted with only part of Stripe's meaning; one that
is not declared gets 400 parameter_unknown naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from servers.stripe.forms import Kind, Param

STRING, INTEGER, BOOLEAN, LIST, MAP = (
    Param(k) for k in (Kind.STRING, Kind.INTEGER, Kind.BOOLEAN, Kind.LIST, Kind.MAP)
)
# Expansions are refused one by one (invalid_request_error naming the path): every
# object here renders its references as ids only.
EXPAND = Param(Kind.LIST, partial="accepted only empty: no field can be expanded")
PAGE = {
    "limit": Param(Kind.INTEGER, partial="1 to 100, default 10"),
    "starting_after": STRING,
    "expand": EXPAND,
}
CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
CANCELLATION_REASONS = ("abandoned", "duplicate", "fraudulent", "requested_by_customer")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
PAYMENT_METHOD = Param(
    Kind.STRING,
    partial="a Stripe test id (pm_card_visa, tok_visa, ...: see the table below) or a "
    "paygate tok_/pm_ id",
)
CARD = Param(
    Kind.OBJECT,
    fields={
        "number": STRING,
        "exp_month": INTEGER,
        "exp_year": INTEGER,
        "cvc": STRING,
        "name": STRING,
    },
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # Stripe's path after /stripe, with {id}
    params: Mapping[str, Param]
    note: str = ""

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/v1/payment_intents",
        {
            "amount": INTEGER,
            "currency": STRING,
            "capture_method": Param(
                Kind.STRING, partial="automatic_async is automatic", choices=CAPTURE_METHODS
            ),
            "confirm": BOOLEAN,
            "payment_method": PAYMENT_METHOD,
            "payment_method_types": Param(Kind.LIST, partial="card and upi are paid here"),
            "description": STRING,
            "metadata": MAP,
            "receipt_email": STRING,
            "return_url": STRING,
            "expand": EXPAND,
        },
    ),
    Route("GET", "/v1/payment_intents/{id}", {"client_secret": STRING, "expand": EXPAND}),
    Route(
        "POST",
        "/v1/payment_intents/{id}",
        {
            "description": STRING,
            "metadata": Param(
                Kind.MAP,
                partial="merged key by key, an empty value removes its key; `metadata=` "
                "alone changes nothing",
            ),
            "receipt_email": STRING,
            "expand": EXPAND,
        },
    ),
    Route(
        "POST",
        "/v1/payment_intents/{id}/confirm",
        {"payment_method": PAYMENT_METHOD, "return_url": STRING, "expand": EXPAND},
    ),
    Route(
        "POST", "/v1/payment_intents/{id}/capture", {"amount_to_capture": INTEGER, "expand": EXPAND}
    ),
    Route(
        "POST",
        "/v1/payment_intents/{id}/cancel",
        {"cancellation_reason": Param(Kind.STRING, choices=CANCELLATION_REASONS), "expand": EXPAND},
    ),
    Route("GET", "/v1/payment_intents", PAGE),
    Route(
        "POST",
        "/v1/refunds",
        {
            "payment_intent": STRING,
            "amount": INTEGER,
            "reason": Param(Kind.STRING, choices=REFUND_REASONS),
            "expand": EXPAND,
        },
    ),
    Route("GET", "/v1/refunds/{id}", {"expand": EXPAND}),
    Route("GET", "/v1/refunds", {**PAGE, "payment_intent": STRING}),
    Route("POST", "/v1/tokens", {"card": CARD, "expand": EXPAND}),
    Route(
        "POST",
        "/v1/payment_methods",
        {
            "type": Param(Kind.STRING, choices=("card",)),
            "card": Param(
                Kind.OBJECT,
                partial="card[token] (a Stripe test token or a paygate tok_) or the card's "
                "number, exp_month, exp_year, cvc (tokenized by the vault first)",
                fields={"token": STRING, **(CARD.fields or {})},
            ),
            "expand": EXPAND,
        },
    ),
    Route("GET", "/v1/payment_methods/{id}", {"expand": EXPAND}),
    Route("GET", "/v1/balance", {"expand": EXPAND}),
    Route("GET", "/v1/balance_transactions", {**PAGE, "source": STRING}),
    Route("GET", "/v1/events/{id}", {"expand": EXPAND}),
    Route("GET", "/v1/events", {**PAGE, "type": STRING}),
    Route(
        "POST",
        "/v1/webhook_endpoints",
        {
            "url": STRING,
            "enabled_events": LIST,
            "description": STRING,
            "expand": EXPAND,
        },
        note="signs with Stripe-Signature and sends events in Stripe's shape",
    ),
    Route("GET", "/v1/webhook_endpoints/{id}", {"expand": EXPAND}),
    Route(
        "POST",
        "/v1/webhook_endpoints/{id}",
        {
            "url": STRING,
            "enabled_events": LIST,
            "description": STRING,
            "disabled": BOOLEAN,
            "expand": EXPAND,
        },
    ),
    Route("DELETE", "/v1/webhook_endpoints/{id}", {}),
    Route("GET", "/v1/webhook_endpoints", PAGE),
)

BY_NAME = {route.name: route for route in ROUTES}

# Stripe resources this surface does not serve: every route under them is 404
# resource_missing with this explanation.
REFUSED_RESOURCES: Mapping[str, str] = {
    "/v1/charges": "paygate has no charge objects: a payment intent's attempts stand for them",
    "/v1/customers": "no customer objects yet",
    "/v1/setup_intents": "no setup intents",
    "/v1/checkout/sessions": "use paygate's hosted checkout (the intent's checkout_url)",
    "/v1/payouts": "use paygate's own API (/v1/payouts)",
    "/v1/disputes": "use paygate's own API (/v1/disputes)",
}

# Stripe's test payment methods and tokens -> paygate's test cards (API.md), tokenized
# by the vault on use. Test numbers only: none is a card.
TEST_CARDS: Mapping[str, str] = {
    "visa": "4242424242424242",
    "mastercard": "5555555555554444",
    "amex": "378282246310005",
    "chargeDeclined": "4000000000000002",
    "chargeDeclinedInsufficientFunds": "4000000000009995",
    "chargeDeclinedExpiredCard": "4000000000000069",
    "chargeDeclinedIncorrectCvc": "4000000000000127",
    "chargeDeclinedProcessingError": "4000000000000119",
    "threeDSecureRequired": "4000002760003184",
    "threeDSecure2Required": "4000002760003184",
    "authenticationRequired": "4000002760003184",
    "createDispute": "4000000000000259",
    "riskLevelHighest": "4100000000000019",
}
TEST_PREFIXES = ("pm_card_", "tok_")


def card_for_test_id(payment_method: str) -> str | None:
    """The paygate test card number for a Stripe test id (pm_card_visa, tok_visa)."""
    for prefix in TEST_PREFIXES:
        if payment_method.startswith(prefix):
            return TEST_CARDS.get(payment_method[len(prefix) :])
    return None
