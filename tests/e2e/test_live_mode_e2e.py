"""Live mode over REST through Envoy: a session picks its mode per call with Paygate-Mode,
keys are made per mode, and neither mode sees the other's payment intents or keys."""

from __future__ import annotations

import secrets

import httpx

from tests.e2e.gateway import Gateway, sign_up


def once() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(8)}


async def test_live_and_test_data_are_apart(gateway: Gateway, rest: httpx.AsyncClient) -> None:
    signed_in = sign_up(gateway, secrets.token_urlsafe(18))
    test = {
        "Authorization": f"Bearer {signed_in['access_token']}",
        "Paygate-Account": signed_in["accounts"][0]["account"]["id"],
    }
    live = test | {"Paygate-Mode": "live"}

    keys = {}
    for mode, session in (("test", test), ("live", live)):
        made = await rest.post(
            "/v1/api_keys", json={"type": "SECRET", "role": "DEVELOPER"}, headers=session | once()
        )
        assert made.status_code == 200, made.text
        assert made.json()["secret"].startswith(f"sk_{mode}_")
        keys[mode] = {"Authorization": f"Bearer {made.json()['secret']}"}
    for mode, session in (("test", test), ("live", live)):
        listed = (await rest.get("/v1/api_keys", headers=session)).json()["data"]
        assert [k["livemode"] for k in listed] == [mode == "live"], listed

    intents = {}
    for mode in ("test", "live"):
        made = await rest.post(
            "/v1/payment_intents", json={"amount": 1234, "currency": "usd"}, headers=keys[mode]
        )
        assert made.status_code == 200, made.text
        assert made.json()["livemode"] is (mode == "live")
        intents[mode] = made.json()["id"]

    for mode, session in (("test", test), ("live", live)):
        other = "live" if mode == "test" else "test"
        listed = (await rest.get("/v1/payment_intents", headers=session)).json()["data"]
        assert [i["id"] for i in listed] == [intents[mode]]
        assert (await rest.get(f"/v1/payment_intents/{intents[mode]}", headers=session)).is_success
        unseen = await rest.get(f"/v1/payment_intents/{intents[other]}", headers=session)
        assert unseen.status_code == 404, unseen.text
        cancel = await rest.post(
            f"/v1/payment_intents/{intents[other]}/cancel", json={}, headers=session | once()
        )
        assert cancel.status_code == 404, cancel.text
        by_key = await rest.get(f"/v1/payment_intents/{intents[other]}", headers=keys[mode])
        assert by_key.status_code == 404, by_key.text

    # A key's mode is its own; a mode that is neither is named.
    mismatch = await rest.get(
        "/v1/payment_intents", headers=keys["test"] | {"Paygate-Mode": "live"}
    )
    assert mismatch.status_code == 403 and "MODE_MISMATCH" in mismatch.text
    bad = await rest.get("/v1/payment_intents", headers=test | {"Paygate-Mode": "prod"})
    assert bad.status_code == 400 and "paygate-mode" in bad.text
