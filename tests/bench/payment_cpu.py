"""`python -m tests.bench.payment_cpu`: CPU per payment of the embedded topology.

Starts `paygate up` (one API process, on its own embedded PostgreSQL) and makes the mix of
tests/e2e/test_zone_split_process.py, which prints the split topology's figures: five
cards each tokenized twice with one Idempotency-Key, five intents created and confirmed
(three captured automatically, one manually, one declined). Prints the user + system CPU
seconds each child used for them (from /proc): counted, not timed, so a loaded machine
skews it less than a throughput figure (docs/connectors.md, "What the extra hop costs").
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import gateway_settings
from tests.e2e.gateway import start_gateway

CARDS = ("4242424242424242",) * 3 + ("5555555555554444", "4000000000000002")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="paygate-cpu-"))
    settings = dataclasses.replace(
        gateway_settings("", root / "var", api_processes=1),
        web_port=0,
        stripe_port=0,
        metrics_base_port=0,
    )
    with (root / "gateway.log").open("w") as out, start_gateway(settings, out=out) as gateway:
        secret = {"Authorization": f"Bearer {gateway.secret_key}"}
        public = {"Authorization": f"Bearer {gateway.publishable_key}"}
        with httpx.Client(base_url=gateway.rest_url, timeout=60, headers=secret) as rest:
            before = {name: cpu_seconds(pid) for name, pid in gateway.pids.items()}
            for i, number in enumerate(CARDS):
                card = {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"}
                once = {**key(), **public}
                token = rest.post("/v1/tokens", json={"card": card}, headers=once).json()
                rest.post("/v1/tokens", json={"card": card}, headers=once)  # the replay
                body: dict[str, Any] = {"amount": 2100, "currency": "usd"}
                if i == 3:
                    body["capture_method"] = "MANUAL"
                intent = rest.post("/v1/payment_intents", json=body, headers=key()).json()
                path = f"/v1/payment_intents/{intent['id']}"
                rest.post(f"{path}/confirm", json={"payment_method": token["id"]}, headers=key())
                if i == 3:
                    rest.post(f"{path}/capture", json={}, headers=key())
            used = {name: cpu_seconds(pid) - before[name] for name, pid in gateway.pids.items()}
    print(json.dumps({name: round(seconds, 3) for name, seconds in used.items()}))


if __name__ == "__main__":
    main()
