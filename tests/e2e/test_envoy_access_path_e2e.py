"""Envoy's REST access log shows the path its Lua filter made loggable: no query string,
digit runs of card-number length masked to their last four (Luhn-valid or not), secret
keys and tokens redacted. Each request carries a User-Agent of its own (logged as it is),
which finds its line."""

from __future__ import annotations

import json
import time
import uuid

import httpx

from tests.e2e.gateway import Gateway


def _access_line(gateway: Gateway, agent: str) -> dict[str, object]:
    log = gateway.data_dir / "gateway.log"
    for _ in range(300):  # Envoy flushes its access log every few seconds
        for line in log.read_text(errors="replace").splitlines():
            if agent in line and '"envoy.access"' in line:
                entry: dict[str, object] = json.loads(line)
                return entry
        time.sleep(0.1)
    raise AssertionError(f"no access line for {agent}")


def test_the_access_log_masks_ids_that_look_like_card_numbers_and_secrets(
    gateway: Gateway,
) -> None:
    auth = {"Authorization": f"Bearer {gateway.secret_key}"}
    cases = {
        # 13 digits failing the Luhn check: only the Lua filter masks it.
        "/v1/payment_intents/1234567890123?client_secret=pi_1_secret_2": (
            "/v1/payment_intents/*********0123"
        ),
        "/v1/payment_intents/4000-0000-0000-0002": "/v1/payment_intents/***************0002",
        "/v1/payment_intents/sk_test_abcdefghijklmnop": "/v1/payment_intents/sk_test_[REDACTED]",
        "/v1/payment_intents/pi_01m96f5q1ce3dsjytwzq2pktfs": (
            "/v1/payment_intents/pi_01m96f5q1ce3dsjytwzq2pktfs"
        ),
    }
    with httpx.Client(base_url=gateway.rest_url, timeout=30) as client:
        for path, shown in cases.items():
            agent = f"paygate-test-{uuid.uuid4().hex}"
            client.get(path, headers={**auth, "user-agent": agent})
            line = _access_line(gateway, agent)
            assert line["proc"] == "envoy"
            assert line["path"] == shown, (path, line["path"])
