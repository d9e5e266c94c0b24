"""Failover between real acquirer processes: cards route to Orbit (the PSP role, over HTTP)
first and to the card network (the acquirer role, over gRPC) second. With Orbit's process
stopped, payments succeed on the card network and Orbit's breaker opens (it is then
skipped without a call); when Orbit is back, the breaker half-opens after its cooldown,
the probe payment goes to Orbit, and it closes.

The orchestrator (the payments core, the cardholder-data zone in this process) runs in
the test process on the session's PostgreSQL; the acquirers are the processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from adapters.auth.passwords import Argon2Hasher
from adapters.ratelimit import LimitsRateLimiter
from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.model import Principal
from core.access.roles import Role
from core.access.use_cases import ApiKeys
from core.payments.breaker import BreakerState
from core.payments.errors import AcquirerUnavailableError
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.model import CaptureMethod, PaymentAttempt, Status
from core.payments.use_cases import CreatePaymentIntent
from core.shared.secret import Secret
from servers.bootstrap.app import CARD_NETWORK, App, assemble
from servers.bootstrap.routing import ORBIT
from servers.runtime.settings import Settings
from tests.e2e.conftest import free_port
from tests.e2e.gateway import reconcile_today
from tests.fakes import token_codec
from tests.fakes.card_vault import MemoryCardVault

ROOT = Path(__file__).resolve().parents[2]
TOKEN = secrets.token_urlsafe(32)
COOLDOWN = 3.0


@dataclass
class Process:
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)


def role(name: str, port: int, tmp_path: Path) -> Process:
    env = {
        **os.environ,
        "PAYGATE_DATA_DIR": str(tmp_path / name),
        "PAYGATE_ACQUIRER_SERVICE_TOKEN": TOKEN,
        "DATABASE_URL": "",
    }
    argv = [sys.executable, "-m", "servers.cli", "serve", "--role", name, "--listen",
            f"127.0.0.1:{port}"]  # fmt: skip
    return Process(argv, env, tmp_path / f"{name}.log")


@pytest.fixture
def acquirers(tmp_path: Path) -> Iterator[dict[str, tuple[Process, int]]]:
    started = {name: (role(name, port, tmp_path), port) for name, port in
               (("psp", free_port()), ("acquirer", free_port()))}  # fmt: skip
    for process, _ in started.values():
        process.start()
    yield started
    for process, _ in started.values():
        process.stop()


@dataclass
class Observed:
    """A PaymentsObserver that keeps what it is told."""

    changes: dict[str, list[BreakerState]] = field(default_factory=dict)
    routes: list[tuple[str, str]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def routed(self, rule: str, acquirer: str, payment_method_type: str) -> None:
        self.routes.append((rule, acquirer))

    def breaker_changed(self, acquirer: str, state: BreakerState) -> None:
        self.changes.setdefault(acquirer, []).append(state)

    def connector_called(self, acquirer: str, operation: str, seconds: float, outcome: str) -> None:
        self.calls.append((acquirer, outcome))


@dataclass
class Shop:
    app: App
    vault: MemoryCardVault
    key: Principal
    settings: Settings
    observed: Observed

    async def pay(self) -> PaymentAttempt:
        intent = await self.app.payment_intents.create(
            self.key,
            CreatePaymentIntent(amount=1500, currency="eur", capture_method=CaptureMethod.MANUAL),
        )
        token = self.vault.add_token(self.key.merchant_id, "4242424242424242")
        paid = await self.app.payments.confirm(
            self.key, intent.id, ConfirmPaymentIntent(payment_method=token)
        )
        assert paid.status is Status.REQUIRES_CAPTURE, paid
        captured = await self.app.payments.capture(self.key, intent.id)
        assert captured.status is Status.SUCCEEDED
        async with self.app.payments._uow() as uow:
            [attempt] = await uow.payment_attempts.for_intent(self.key.merchant_id, intent.id)
        return attempt

    def breaker(self, name: str) -> BreakerState:
        return self.app.payments._breakers[name].state


@pytest.fixture
async def shop(acquirers: dict[str, tuple[Process, int]], database_url: str) -> AsyncIterator[Shop]:
    engine = create_engine(database_url, pool_size=4)
    clock = SystemClock()
    seeded = await ApiKeys(SqlUnitOfWorkFactory(engine), RandomIds(), clock).seed_merchant(
        "Failover e2e"
    )
    routing = [{"name": "cards", "method": "card", "routes": [ORBIT, CARD_NETWORK]}]
    settings = Settings(
        acquirer_target=f"127.0.0.1:{acquirers['acquirer'][1]}",
        acquirer_service_token=Secret(TOKEN),
        orbit_url=f"http://127.0.0.1:{acquirers['psp'][1]}",
        routing=json.dumps(routing),
        acquirer_timeout=5.0,
        breaker_window=6,
        breaker_min_calls=3,
        breaker_error_rate=0.5,
        breaker_cooldown=COOLDOWN,
    )
    await ready(settings)  # no breaker should learn anything from the processes' start-up
    vault, limiter, observed = MemoryCardVault(), LimitsRateLimiter("memory://"), Observed()
    app = assemble(
        settings, SqlUnitOfWorkFactory(engine), RandomIds(), clock, card_vault=vault,
        limiter=limiter, hasher=Argon2Hasher(), tokens=token_codec(clock),
        payments_observer=observed,
    )  # fmt: skip
    key = Principal(seeded.merchant.id, False, "key_failover", Role.ADMIN)
    yield Shop(app, vault, key, settings, observed)
    await app.aclose()
    await limiter.aclose()
    await engine.dispose()


async def ready(settings: Settings, budget: float = 90.0) -> None:
    """Both processes answer: the acquirer role's health, Orbit's 404 for an unknown charge."""
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        try:
            async with grpc.aio.insecure_channel(settings.acquirer_target) as channel:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
            async with httpx.AsyncClient(base_url=settings.orbit_url, timeout=1) as http:
                orbit = await http.get("/v1/charges/pa_ready")
            if reply.status == health_pb2.HealthCheckResponse.SERVING and orbit.status_code == 404:
                return
        except (grpc.aio.AioRpcError, httpx.HTTPError):
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the acquirer role or the PSP role never answered")


async def until_served(shop: Shop, acquirer: str) -> PaymentAttempt:
    """Payments until one is taken by `acquirer` (the processes need a moment to start)."""
    for _ in range(100):
        try:
            attempt = await shop.pay()
        except AcquirerUnavailableError:  # neither process listens yet
            attempt = None
        if attempt is not None and attempt.acquirer == acquirer:
            return attempt
        await asyncio.sleep(0.1)
    raise AssertionError(f"no payment reached {acquirer}")


async def test_payments_fail_over_while_the_primary_is_down_and_its_breaker_opens_and_closes(
    shop: Shop, acquirers: dict[str, tuple[Process, int]], database_url: str, tmp_path: Path
) -> None:
    first = await until_served(shop, ORBIT)
    assert first.route == "cards" and first.tries[-1]["outcome"] == "answered"
    assert shop.breaker(ORBIT) is BreakerState.CLOSED

    psp, _ = acquirers["psp"]
    psp.stop()
    down = [await shop.pay() for _ in range(5)]
    # Every payment succeeded, on the card network.
    assert {a.acquirer for a in down} == {CARD_NETWORK}
    assert down[0].tries[0] == {"acquirer": ORBIT, "outcome": "unavailable", "code": ""}
    # Three failures of three calls: the breaker opened, and Orbit was skipped unasked.
    assert shop.observed.changes[ORBIT][0] is BreakerState.OPEN
    assert any(a.tries[0]["outcome"] == "circuit_open" for a in down)

    psp.start()
    await asyncio.sleep(COOLDOWN)
    back = await until_served(shop, ORBIT)  # the half-open probe, once Orbit listens
    assert back.acquirer == ORBIT
    assert shop.breaker(ORBIT) is BreakerState.CLOSED
    assert shop.observed.changes[ORBIT][-2:] == [BreakerState.HALF_OPEN, BreakerState.CLOSED]
    # The metrics hooks saw the route of every payment and Orbit's calls.
    assert {acquirer for _, acquirer in shop.observed.routes} == {ORBIT, CARD_NETWORK}
    assert ("orbit", "unavailable") in shop.observed.calls
    assert (await shop.pay()).acquirer == ORBIT

    # Each acquirer's settlement file (Orbit's over its JSON API) against the ledger.
    code, said = reconcile(shop.settings, database_url, tmp_path)
    summary = said[-1]
    assert (code, summary["msg"], summary["differences"]) == (0, "reconciled", 0), said
    assert summary["acquirer_lines"] == summary["ledger_movements"] >= 8, summary


def reconcile(
    settings: Settings, database_url: str, data_dir: Path
) -> tuple[int, list[dict[str, Any]]]:
    env = {
        "DATABASE_URL": database_url,
        "PAYGATE_DATA_DIR": str(data_dir / "operator"),
        "PAYGATE_ACQUIRER_TARGET": settings.acquirer_target,
        "PAYGATE_ACQUIRER_SERVICE_TOKEN": TOKEN,
        "PAYGATE_ORBIT_URL": settings.orbit_url,
    }
    return reconcile_today(env)
