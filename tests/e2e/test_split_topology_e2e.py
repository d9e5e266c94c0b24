"""`paygate up` with the cardholder-data zone in a process of its own (PAYGATE_VAULT_PROCESSES=1).

The launcher starts the vault role beside the acquirer and the PSPs, points the API
processes and the worker at it, and Envoy routes POST /v1/tokens there. Full card
payments over REST through Envoy (tokenize with the publishable key, create, confirm,
capture, refund; and one captured automatically) succeed; the vault role's own log shows
it served every token request and every call into the zone, the API processes served
none of the token requests, and neither API process holds a sentinel card number in its
memory while the token ids it handled are there.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from servers.runtime import envoy_config
from tests.e2e.conftest import running_gateway
from tests.e2e.gateway import Gateway
from tests.e2e.test_zone_split_process import process_memory
from tests.sentinel import Sentinels

pytestmark = pytest.mark.e2e

API_PROCESSES = 2
ZONE = "/paygate.internal.v1.AcquirerSimulatorService/"
TOKENS = "/paygate.v1.TokenService/CreateToken"


@pytest.fixture(scope="module")
def split_gateway(gateway_database_url: str) -> Iterator[Gateway]:
    with running_gateway(gateway_database_url, API_PROCESSES, vault_processes=1) as running:
        yield running


def served(log: Path) -> dict[str, Counter[str]]:
    """The gRPC methods each child served, by the launcher's log (one `rpc` line a call)."""
    calls: dict[str, Counter[str]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if '"rpc"' not in line or not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("msg") == "rpc":
            calls.setdefault(entry["proc"], Counter())[entry.get("method", "")] += 1
    return calls


def settled(log: Path, *, vault_calls: int, within: float = 30.0) -> dict[str, Counter[str]]:
    """served(log) once the vault role's lines of `vault_calls` payment calls (tokens and
    the zone's) are there: it writes them from a thread, so the last ones come a moment
    after the last answer."""
    payment_calls = (TOKENS, ZONE + "Authorize", ZONE + "Capture", ZONE + "Refund")
    deadline = time.monotonic() + within
    calls = served(log)
    while sum(calls.get("vault", Counter())[m] for m in payment_calls) < vault_calls:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
        calls = served(log)
    return calls


def test_a_full_card_payment_crosses_the_zone_and_no_api_process_holds_the_card(
    split_gateway: Gateway,
) -> None:
    gateway = split_gateway
    assert {"vault", "api-0", "api-1"} <= set(gateway.pids)
    sentinels = Sentinels()
    tokens: list[str] = []

    def post(rest: httpx.Client, path: str, body: dict[str, object], key: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())}
        answer = rest.post(path, json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        reply: dict[str, str] = answer.json()
        return reply

    def pay(rest: httpx.Client, capture_method: str) -> dict[str, str]:
        card = {
            "number": sentinels.pan("4"),
            "exp_month": 12,
            "exp_year": 2031,
            "cvc": sentinels.cvc(),
        }
        token = post(rest, "/v1/tokens", {"card": card}, gateway.publishable_key)["id"]
        tokens.append(token)
        body = {"amount": 2100, "currency": "usd", "capture_method": capture_method}
        intent = post(rest, "/v1/payment_intents", body, gateway.secret_key)
        return post(
            rest,
            f"/v1/payment_intents/{intent['id']}/confirm",
            {"payment_method": token},
            gateway.secret_key,
        )

    with httpx.Client(base_url=gateway.rest_url, timeout=60) as rest:
        held = pay(rest, "MANUAL")
        assert held["status"] == "REQUIRES_CAPTURE", held
        captured = post(rest, f"/v1/payment_intents/{held['id']}/capture", {}, gateway.secret_key)
        assert captured["status"] == "SUCCEEDED", captured
        refund = post(rest, "/v1/refunds", {"payment_intent": held["id"]}, gateway.secret_key)
        assert refund["status"] == "SUCCEEDED", refund
        for _ in range(2):
            paid = pay(rest, "AUTOMATIC")
            assert paid["status"] == "SUCCEEDED", paid
        stats = rest.get(f"{gateway.admin_url}/stats?filter=upstream_rq_total$").text

    # Envoy sent every token request to the vault role's token listener.
    counted = dict(line.split(": ") for line in stats.splitlines())
    assert int(counted[f"cluster.{envoy_config.TOKENS_CLUSTER}.upstream_rq_total"]) == 3

    # The split is real: the vault role's process served the zone's calls, the API
    # processes served none of the token requests.
    # 3 tokens, 3 authorizations (the 2 automatic captures are sales: captured in them),
    # 1 capture (the manual one), 1 refund.
    calls = settled(gateway.data_dir / "gateway.log", vault_calls=8)
    vault = calls["vault"]
    assert vault[TOKENS] == 3
    # The card profiles came with the tokens (adapters/vault/profile_handoff.py): the
    # confirms did not ask the vault role for them.
    assert vault["/paygate.internal.v1.VaultInternalService/DescribeForPayment"] == 0
    assert (vault[ZONE + "Authorize"], vault[ZONE + "Capture"], vault[ZONE + "Refund"]) == (
        3,
        1,
        1,
    )
    apis = [name for name in gateway.pids if name.startswith("api-")]
    assert sum(calls.get(name, Counter())[TOKENS] for name in apis) == 0
    assert sum(calls.get(name, Counter())[ZONE + "Authorize"] for name in apis) == 0

    memory = b"".join(process_memory(gateway.pids[name]) for name in apis)
    # The scan sees what the processes hold: the tokens they were given are there.
    assert all(token.encode() in memory for token in tokens)
    assert sentinels.hits_in_bytes(memory, "API processes' memory", cvcs=False) == []
