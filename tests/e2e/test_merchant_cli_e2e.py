"""The merchant's `paygate` commands against the real gateway, as a subprocess: the key
from PAYGATE_API_KEY or the 0600 config file of `paygate login`, the gateway from
PAYGATE_API_URL, --json for scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.gateway import Gateway

PAYGATE = str(Path(sys.executable).with_name("paygate"))


def paygate(
    *args: str, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([PAYGATE, *args], env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def as_json(*args: str, env: dict[str, str]) -> Any:
    return json.loads(paygate(*args, "--json", env=env).stdout)


@pytest.fixture
def env(gateway: Gateway, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PAYGATE_API_URL": f"http://{gateway.grpc_target}",
        "PAYGATE_API_KEY": gateway.secret_key,
        "PAYGATE_CONFIG": str(tmp_path / "paygate" / "config.json"),
    }


def token(gateway: Gateway) -> str:
    response = httpx.post(
        f"{gateway.rest_url}/v1/tokens",
        headers={"Authorization": f"Bearer {gateway.publishable_key}",
                 "Idempotency-Key": uuid.uuid4().hex},
        json={"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040,
                       "cvc": "123"}},
        timeout=30,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_a_payment_from_create_to_refund(gateway: Gateway, env: dict[str, str]) -> None:
    created = as_json("payments", "create", "--amount", "2500", "--currency", "eur",
                      "--capture-method", "manual", env=env)  # fmt: skip
    assert created["status"] == "REQUIRES_PAYMENT_METHOD" and created["amount"] == "2500"
    confirmed = as_json("payments", "confirm", created["id"], "--payment-method", token(gateway),
                        env=env)  # fmt: skip
    assert confirmed["status"] == "REQUIRES_CAPTURE"
    captured = as_json("payments", "capture", created["id"], "--amount", "2000", env=env)
    assert (captured["status"], captured["amount_received"]) == ("SUCCEEDED", "2000")
    refund = as_json("payments", "refund", created["id"], "--amount", "500", env=env)
    assert refund["payment_intent"] == created["id"] and refund["amount"] == "500"
    got = as_json("payments", "get", created["id"], env=env)
    assert got["amount_refunded"] == "500"

    listed = paygate("payments", "list", "--json", "--status", "succeeded", env=env).stdout
    assert created["id"] in [json.loads(line)["id"] for line in listed.splitlines()]
    table = paygate("payments", "list", env=env).stdout
    assert created["id"] in table and "SUCCEEDED" in table


def test_keys_with_networks(env: dict[str, str]) -> None:
    key = as_json("keys", "create", "--allow", "127.0.0.1", "--role", "developer", env=env)
    assert key["secret"].startswith("sk_test_") and key["allowed_ips"] == ["127.0.0.1/32"]
    widened = as_json("keys", "allow", key["id"], "127.0.0.0/8", env=env)
    assert widened["allowed_ips"] == ["127.0.0.0/8"]
    bad = paygate("keys", "allow", key["id"], "not-a-network", env=env, check=False)
    assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr
    listed = paygate("keys", "list", "--json", env=env).stdout
    assert key["id"] in listed and key["secret"] not in listed
    revoked = as_json("keys", "revoke", key["id"], env=env)
    assert revoked["revoked_at"]


def test_login_writes_a_private_config_and_a_readable_one_is_refused(
    gateway: Gateway, env: dict[str, str]
) -> None:
    quiet = {k: v for k, v in env.items() if k != "PAYGATE_API_KEY"}
    refused = paygate("payments", "list", env=quiet, check=False)
    assert refused.returncode == 2 and "paygate login" in refused.stderr

    wrong = paygate("login", "--api-key", "sk_test_wrong", "--api-url", env["PAYGATE_API_URL"],
                    env=quiet, check=False)  # fmt: skip
    assert wrong.returncode == 1 and "UNAUTHENTICATED" in wrong.stderr
    config = Path(quiet["PAYGATE_CONFIG"])
    assert not config.exists()  # a key that does not work is not kept

    paygate("login", "--api-key", gateway.secret_key, "--api-url", env["PAYGATE_API_URL"],
            env=quiet)  # fmt: skip
    assert config.stat().st_mode & 0o777 == 0o600
    assert paygate("payments", "list", "--limit", "1", env=quiet).returncode == 0

    config.chmod(0o644)
    readable = paygate("payments", "list", env=quiet, check=False)
    assert readable.returncode == 2 and "chmod 600" in readable.stderr
    assert gateway.secret_key not in readable.stderr + readable.stdout


def test_events_tail_prints_new_events(gateway: Gateway, env: dict[str, str]) -> None:
    tail = subprocess.Popen(
        [PAYGATE, "events", "tail", "--types", "payment_intent.created", "--limit", "1",
         "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        created: list[str] = []
        for _ in range(60):  # until the stream is listening and has seen one
            created.append(as_json("payments", "create", "--amount", "100", "--currency",
                                   "usd", env=env)["id"])  # fmt: skip
            try:
                tail.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                continue
        out, err = tail.communicate(timeout=30)
    finally:
        if tail.poll() is None:
            tail.kill()
    assert tail.returncode == 0, err
    event = json.loads(out.splitlines()[0])
    assert event["type"] == "payment_intent.created"
    assert event["data"]["object"]["id"] in created


def test_a_refused_call_prints_the_status_and_exits_1(env: dict[str, str]) -> None:
    missing = paygate("payments", "get", "pi_nothere", env=env, check=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith("paygate: ") and "Traceback" not in missing.stderr
