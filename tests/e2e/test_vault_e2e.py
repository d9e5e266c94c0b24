"""The vault through the real gateway: a browser's publishable key tokenizes a card over REST."""

from __future__ import annotations

import httpx

from tests.e2e.gateway import Gateway

CARD = {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}


def test_tokenize_with_a_publishable_key_then_save_the_card(gateway: Gateway) -> None:
    pk = {"Authorization": f"Bearer {gateway.publishable_key}"}
    sk = {"Authorization": f"Bearer {gateway.secret_key}"}
    with httpx.Client(base_url=gateway.rest_url) as http:
        token = http.post("/v1/tokens", json={"card": CARD}, headers=pk)
        assert token.status_code == 200, token.text
        body = token.json()
        assert body["id"].startswith("tok_")
        assert body["card"]["brand"] == "visa"
        assert body["card"]["last4"] == "4242"
        assert "4242424242424242" not in token.text

        saved = http.post("/v1/payment_methods", json={"token": body["id"]}, headers=sk)
        assert saved.status_code == 200, saved.text
        assert saved.json()["id"].startswith("pm_")

        reused = http.post("/v1/payment_methods", json={"token": body["id"]}, headers=sk)
        assert reused.status_code == 400
        assert reused.json()["details"][0]["reason"] == "TOKEN_ALREADY_USED"

        refused = http.post(
            "/v1/tokens", json={"card": {**CARD, "number": "4242424242424241"}}, headers=pk
        )
        assert refused.status_code == 400
        assert refused.json()["details"][0]["metadata"]["param"] == "card.number"
        assert "4242424242424241" not in refused.text
