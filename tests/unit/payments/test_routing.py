"""The routing table: the first matching rule, its routes cheapest first, and the config."""

from __future__ import annotations

import json

import pytest

from core.payments.routing import PaymentFacts, RoutingConfigError, RoutingTable

TABLE = json.dumps(
    [
        {"name": "big-merchant", "merchant": "acct_big", "routes": ["orbit"]},
        {
            "name": "eur-cards",
            "method": "card",
            "network": ["visa", "mastercard"],
            "currency": "eur",
            "max_amount": 100_000,
            "routes": [
                {"acquirer": "card_network", "cost": {"fixed": 30, "basis_points": 150}},
                {"acquirer": "orbit", "cost": {"basis_points": 250}},
            ],
        },
        {"name": "cards", "method": "card", "routes": ["card_network", "orbit"]},
        {"name": "upi", "method": "upi", "routes": ["upi_switch"]},
    ]
)


def facts(amount: int = 1000, **kw: str) -> PaymentFacts:
    base = {
        "payment_method_type": "card",
        "currency": "EUR",
        "merchant_id": "acct_1",
        "network": "visa",
    }
    return PaymentFacts(amount=amount, **{**base, **kw})  # type: ignore[arg-type]


def test_the_first_matching_rule_routes_cheapest_first() -> None:
    table = RoutingTable.from_json(TABLE)
    # 1000: card_network 30 + 15 = 45, orbit 25: orbit is cheaper.
    assert table.decide(facts(1000)).candidates == ("orbit", "card_network")  # type: ignore[union-attr]
    # 10000: card_network 30 + 150 = 180, orbit 250.
    decision = table.decide(facts(10_000))
    assert decision is not None and decision.rule == "eur-cards"
    assert decision.candidates == ("card_network", "orbit")
    assert table.decide(facts(200_000)).rule == "cards"  # type: ignore[union-attr]
    assert table.decide(facts(network="amex")).rule == "cards"  # type: ignore[union-attr]
    assert table.decide(facts(currency="USD")).rule == "cards"  # type: ignore[union-attr]
    assert table.decide(facts(merchant_id="acct_big")).candidates == ("orbit",)  # type: ignore[union-attr]
    assert table.decide(facts(payment_method_type="upi")).rule == "upi"  # type: ignore[union-attr]
    assert table.decide(facts(payment_method_type="wallet")) is None


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("{", "not JSON"),
        ("[]", "non-empty"),
        ('[{"routes": []}]', "routing[0].routes"),
        ('[{"routes": ["a"], "colour": "red"}]', "unknown fields"),
        ('[{"routes": ["a"], "min_amount": -1}]', "routing[0].min_amount"),
        ('[{"routes": [{"acquirer": "a", "cost": {"fixed": 1.5}}]}]', "cost.fixed"),
        ('[{"routes": ["a"], "currency": [3]}]', "routing[0].currency"),
    ],
)
def test_a_bad_table_names_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(RoutingConfigError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        RoutingTable.from_json(text)
