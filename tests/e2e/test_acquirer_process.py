"""The acquirer is one external system: every process of the gateway sees the same one.

The session's gateway runs the acquirer role as a process of its own, two API processes
behind Envoy and a worker. An authorization made through one API process is captured
through the other; an attempt whose reply was lost is found by reference from yet
another process, as the worker's recovery will find it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from paygate.v1 import payment_intents_pb2 as intents_pb
from paygate.v1 import payment_intents_pb2_grpc, tokens_pb2, tokens_pb2_grpc
from sqlalchemy import text

from adapters.acquirers.grpc_client import GrpcAcquirer
from adapters.auth.passwords import Argon2Hasher
from adapters.grpc_channel import open_channel
from adapters.ratelimit import LimitsRateLimiter
from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.payments.acquirer import AuthorizationOutcome, AuthorizationRequest, Card
from core.payments.model import Status
from core.shared.money import Money
from core.shared.secret import Secret
from servers.bootstrap.app import assemble
from servers.runtime.launcher import REPO_ROOT
from servers.runtime.settings import Settings
from tests.e2e.gateway import Gateway
from tests.fakes import token_codec
from tests.fakes.card_vault import MemoryCardVault

TEST_CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
TIMEOUT_CARD = {**TEST_CARD, "number": "4000000000000408"}


@pytest.fixture
async def rest(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.rest_url, timeout=30) as http:
        yield http


def secret(gateway: Gateway) -> dict[str, str]:
    return {"Authorization": f"Bearer {gateway.secret_key}", "Idempotency-Key": str(uuid.uuid4())}


async def tokenize(rest: httpx.AsyncClient, gateway: Gateway, card: dict[str, Any]) -> str:
    response = await rest.post(
        "/v1/tokens",
        json={"card": card},
        headers={
            "Authorization": f"Bearer {gateway.publishable_key}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["id"]
    assert token.startswith("tok_")
    return token


async def manual_intent(rest: httpx.AsyncClient, gateway: Gateway, amount: int = 2500) -> str:
    response = await rest.post(
        "/v1/payment_intents",
        json={"amount": amount, "currency": "usd", "capture_method": "MANUAL"},
        headers=secret(gateway),
    )
    assert response.status_code == 200, response.text
    intent_id: str = response.json()["id"]
    return intent_id


async def confirm(
    rest: httpx.AsyncClient, gateway: Gateway, intent_id: str, token: str
) -> httpx.Response:
    return await rest.post(
        f"/v1/payment_intents/{intent_id}/confirm",
        json={"payment_method": token},
        headers=secret(gateway),
    )


def requests_per_api_process(gateway: Gateway) -> dict[str, int]:
    clusters = httpx.get(f"{gateway.admin_url}/clusters").text
    found = re.findall(r"^api::(127\.0\.0\.1:\d+)::rq_total::(\d+)$", clusters, re.M)
    return {host: int(count) for host, count in found}


def api_listen(gateway: Gateway, index: int) -> str:
    argv = psutil.Process(gateway.pids[f"api-{index}"]).cmdline()
    return argv[argv.index("--listen") + 1]


# --- one acquirer for every API process -------------------------------------------------


def test_the_acquirer_runs_as_a_process_of_its_own(gateway: Gateway) -> None:
    assert "acquirer" in gateway.pids
    argv = psutil.Process(gateway.pids["acquirer"]).cmdline()
    assert argv[argv.index("--role") + 1] == "acquirer"
    assert argv[argv.index("--listen") + 1] == gateway.acquirer_target
    # Every API process and the worker were told where it is.
    for name, pid in gateway.pids.items():
        if name.startswith("api-") or name == "worker":
            environ = psutil.Process(pid).environ()
            assert environ["PAYGATE_ACQUIRER_TARGET"] == gateway.acquirer_target


async def test_captures_succeed_whichever_api_process_took_the_confirm(
    rest: httpx.AsyncClient, gateway: Gateway
) -> None:
    before = requests_per_api_process(gateway)
    for _ in range(4):  # each call is a new request: Envoy spreads them round robin
        intent_id = await manual_intent(rest, gateway)
        token = await tokenize(rest, gateway, TEST_CARD)
        confirmed = await confirm(rest, gateway, intent_id, token)
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == "REQUIRES_CAPTURE"
        assert confirmed.json()["amount_capturable"] == "2500"

        captured = await rest.post(
            f"/v1/payment_intents/{intent_id}/capture", json={}, headers=secret(gateway)
        )
        assert captured.status_code == 200, captured.text
        assert captured.json()["status"] == "SUCCEEDED"
        assert captured.json()["amount_received"] == "2500"
    after = requests_per_api_process(gateway)
    # Both API processes served calls: confirms and captures landed on both.
    assert len(after) == 2
    assert all(after[host] - before.get(host, 0) >= 4 for host in after), (before, after)


def test_confirm_on_one_api_process_and_capture_on_the_other(gateway: Gateway) -> None:
    """The same, with no load balancer left to chance: each call goes to one process."""
    first, second = api_listen(gateway, 0), api_listen(gateway, 1)
    assert first != second
    publishable = (("authorization", f"Bearer {gateway.publishable_key}"),)
    secret_key = (("authorization", f"Bearer {gateway.secret_key}"),)
    with grpc.insecure_channel(first) as zero, grpc.insecure_channel(second) as one:
        token = tokens_pb2_grpc.TokenServiceStub(zero).CreateToken(
            tokens_pb2.CreateTokenRequest(card=tokens_pb2.CardInput(**TEST_CARD)),
            metadata=publishable,
            timeout=30,
        )
        on_zero = payment_intents_pb2_grpc.PaymentIntentServiceStub(zero)
        on_one = payment_intents_pb2_grpc.PaymentIntentServiceStub(one)
        intent = on_zero.CreatePaymentIntent(
            intents_pb.CreatePaymentIntentRequest(
                amount=1800, currency="usd", capture_method=intents_pb.PaymentIntent.MANUAL
            ),
            metadata=secret_key,
            timeout=30,
        )
        confirmed = on_zero.ConfirmPaymentIntent(
            intents_pb.ConfirmPaymentIntentRequest(id=intent.id, payment_method=token.id),
            metadata=secret_key,
            timeout=30,
        )
        assert confirmed.status == intents_pb.PaymentIntent.REQUIRES_CAPTURE
        captured = on_one.CapturePaymentIntent(
            intents_pb.CapturePaymentIntentRequest(id=intent.id, amount_to_capture=1000),
            metadata=secret_key,
            timeout=30,
        )
        assert captured.status == intents_pb.PaymentIntent.SUCCEEDED
        assert captured.amount_received == 1000


# --- outcome unknown, then found from another process -----------------------------------


async def test_a_lost_reply_stays_processing_and_any_process_finds_the_outcome(
    rest: httpx.AsyncClient, gateway: Gateway
) -> None:
    intent_id = await manual_intent(rest, gateway, amount=4200)
    token = await tokenize(rest, gateway, TIMEOUT_CARD)
    confirmed = await confirm(rest, gateway, intent_id, token)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "PROCESSING"  # never a decline: outcome unknown
    for _ in range(2):  # both API processes say so
        got = await rest.get(f"/v1/payment_intents/{intent_id}", headers=secret(gateway))
        assert got.status_code == 200
        assert got.json()["status"] == "PROCESSING"

    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            attempt_id = (
                await connection.execute(
                    text("SELECT id FROM payment_attempts WHERE payment_intent_id = :id"),
                    {"id": intent_id},
                )
            ).scalar_one()

        # The acquirer recorded it: one more client, on a channel of its own, asks.
        channel = open_channel(gateway.acquirer_target)
        try:
            network = GrpcAcquirer.card_network(
                channel, service_token=gateway.acquirer_service_token
            )
            found = await network.lookup(attempt_id)
        finally:
            await channel.close()
        assert found is not None and found.outcome is AuthorizationOutcome.APPROVED

        # A process that never saw the confirm (this one, as the worker's recovery will)
        # settles the attempt by its reference.
        clock = SystemClock()
        limiter = LimitsRateLimiter("memory://")
        settings = Settings(
            acquirer_target=gateway.acquirer_target,
            acquirer_service_token=Secret(gateway.acquirer_service_token),
        )
        app = assemble(
            settings, SqlUnitOfWorkFactory(engine), RandomIds(), clock,
            card_vault=MemoryCardVault(), limiter=limiter, hasher=Argon2Hasher(),
            tokens=token_codec(clock),
        )  # fmt: skip
        try:
            synced = await app.payments.sync_attempt(attempt_id)
        finally:
            await app.aclose()
            await limiter.aclose()
        assert synced.status is Status.REQUIRES_CAPTURE
    finally:
        await engine.dispose()

    got = await rest.get(f"/v1/payment_intents/{intent_id}", headers=secret(gateway))
    assert got.json()["status"] == "REQUIRES_CAPTURE"
    captured = await rest.post(
        f"/v1/payment_intents/{intent_id}/capture", json={}, headers=secret(gateway)
    )
    assert captured.status_code == 200, captured.text
    assert captured.json()["status"] == "SUCCEEDED"


def test_the_acquirer_service_is_not_routed_by_envoy(gateway: Gateway) -> None:
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        call = channel.unary_unary("/paygate.internal.v1.AcquirerSimulatorService/Lookup")
        with pytest.raises(grpc.RpcError) as error:
            call(b"", timeout=5)
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
    response = httpx.post(
        f"{gateway.rest_url}/paygate.internal.v1.AcquirerSimulatorService/Lookup",
        headers={"Content-Type": "application/json"},
        content=b"{}",
    )
    assert response.status_code == 404


# --- `paygate serve --role acquirer` on its own ------------------------------------------


@dataclass
class ByHand:
    process: subprocess.Popen[bytes]
    target: str
    token: str
    log: Path


@pytest.fixture
def acquirer_by_hand(tmp_path: Path) -> Iterator[ByHand]:
    """`paygate serve --role acquirer` with no database anywhere in sight."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target, token = f"127.0.0.1:{port}", "k" * 40
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_")},
        "DATABASE_URL": "",
        "PAYGATE_DATA_DIR": str(tmp_path / "no-database-here"),
        "PAYGATE_ACQUIRER_SERVICE_TOKEN": token,
        "PAYGATE_WEB_BASE_URL": "https://pay.example",
        "PAYGATE_LOG_LEVEL": "DEBUG",
    }
    log = tmp_path / "acquirer.log"
    argv = ["serve", "--role", "acquirer", "--listen", target]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "servers.cli", *argv],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield ByHand(process, target, token, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


async def test_the_role_by_hand_needs_no_database_and_stops_cleanly(
    acquirer_by_hand: ByHand,
) -> None:
    role = acquirer_by_hand
    async with grpc.aio.insecure_channel(role.target) as probe:
        health = health_pb2_grpc.HealthStub(probe)
        for _ in range(300):
            assert role.process.poll() is None, role.log.read_text()[-3000:]
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.05)
    channel = open_channel(role.target)
    try:
        network = GrpcAcquirer.card_network(channel, service_token=role.token)
        challenged = await network.authorize(
            AuthorizationRequest(
                "pa_by_hand_1",
                "acct_by_hand",
                Money(700, "EUR"),
                Card(Secret("4000002760003184"), 12, 2040, "visa", cvc=Secret("123")),
            )
        )
        assert challenged.outcome is AuthorizationOutcome.REQUIRES_ACTION
        assert challenged.next_action is not None
        assert challenged.next_action.url == "https://pay.example/3ds/pa_by_hand_1"
    finally:
        await channel.close()
    role.process.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(role.process.wait, 30)
    logged = role.log.read_text()
    assert code == 0, logged[-3000:]
    assert "acquirer serving" in logged and "acquirer stopped" in logged
    assert "400000276000" not in logged  # the card's first 12 digits, in no form
