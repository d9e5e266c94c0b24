"""Stripe's bracketed parameters: parsed by qs-codec, checked against what a route declares."""

from __future__ import annotations

import pytest

from servers.stripe.errors import StripeError
from servers.stripe.forms import check, parse
from servers.stripe.surface import BY_NAME

CREATE = BY_NAME["POST /v1/payment_intents"].params
PAYMENT_METHODS = BY_NAME["POST /v1/payment_methods"].params


def test_bracket_notation_in_every_spelling() -> None:
    text = (
        "amount=2000&currency=usd&metadata[order]=6735&metadata%5Bnote%5D=a+b"
        "&payment_method_types[0]=card&payment_method_types%5B1%5D=upi&expand[]=&confirm=true"
    )
    values = check({k: v for k, v in parse(text).items() if k != "expand"}, CREATE)
    assert values == {
        "amount": 2000,
        "currency": "usd",
        "metadata": {"order": "6735", "note": "a b"},
        "payment_method_types": ["card", "upi"],
        "confirm": True,
    }
    assert parse("expand[]=a&expand[]=b")["expand"] == ["a", "b"]
    assert parse("expand[0]=a&expand[1]=b")["expand"] == ["a", "b"]
    assert check(parse("expand%5B0%5D=x"), CREATE) == {"expand": ["x"]}


def _refused(text: str, params: dict[str, object] | None = None) -> StripeError:
    with pytest.raises(StripeError) as raised:
        check(parse(text), params or CREATE)
    assert raised.value.status == 400
    assert raised.value.type == "invalid_request_error"
    return raised.value


def test_an_unknown_parameter_is_named_never_dropped() -> None:
    error = _refused("amount=1&currency=usd&application_fee_amount=3")
    assert (error.code, error.param) == ("parameter_unknown", "application_fee_amount")
    assert "application_fee_amount" in error.message
    nested = _refused("type=card&card[number]=4242424242424242&card[networks]=x", PAYMENT_METHODS)  # type: ignore[arg-type]
    assert nested.param == "card[networks]"


@pytest.mark.parametrize(
    ("text", "param"),
    [
        ("amount=12.5", "amount"),
        ("amount[]=1", "amount"),
        ("confirm=yes", "confirm"),
        ("capture_method=later", "capture_method"),
        ("metadata=x1&metadata[a]=b", "metadata"),
        ("metadata[a][b]=c", "metadata"),
        ("payment_method_types=card", "payment_method_types"),
    ],
)
def test_a_malformed_value_is_a_400_naming_it(text: str, param: str) -> None:
    error = _refused(text)
    assert (error.code, error.param) == ("parameter_invalid", param)


def test_too_deep_or_too_many_is_refused_not_truncated() -> None:
    with pytest.raises(StripeError):
        parse("metadata[a][b][c][d][e]=1")
    too_many = "&".join(f"metadata[k{i}]=v" for i in range(51))
    assert _refused(too_many).param == "metadata"


def test_a_card_number_sent_as_a_parameter_name_is_not_echoed() -> None:
    error = _refused("4242424242424242=1")
    assert "4242424242424242" not in error.message
    assert error.param.endswith("4242") and "*" in error.param
