"""Dependency outages under load: PostgreSQL stopped as by a power cut and started again,
Redis killed and started again. On servers of this test's own (an embedded PostgreSQL,
a redis-server on a free port): the machine's shared ones are never touched.

What must hold (docs/reliability.md, "Outage policies"):
- PostgreSQL down: every call answers at once with UNAVAILABLE (HTTP 503 with the JSON
  status), never INTERNAL; nothing is half-written; when the server is back the same API
  processes serve again (no restart of paygate).
- Redis down: payments go on (the rate limiter fails open, the event relay waits and
  catches up once Redis is back).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.engine import create_engine
from servers.runtime.embedded_postgres import EmbeddedPostgres
from tests.conftest import _free_port, _redis_answers, _redis_server_binary
from tests.e2e.conftest import running_gateway
from tests.e2e.gateway import Gateway
from tests.faults import invariants
from tests.faults.waiting import eventually

LOAD_CLIENTS = 4
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}


@dataclass
class Load:
    """Clients paying in a loop; every answer counted under the phase it arrived in."""

    gateway: Gateway
    currency: str = "usd"
    phase: str = "before"
    answers: dict[str, Counter[str]] = field(default_factory=dict)
    # The status of each intent a confirm answered 200 for, by phase.
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)
    stop: bool = False

    def count(self, response: httpx.Response) -> None:
        kind = str(response.status_code)
        if response.status_code == 503:  # the API's own status, or Envoy's plain text?
            is_status = response.headers.get("content-type", "").startswith("application/json")
            kind += " UNAVAILABLE" if is_status and response.json().get("code") == 14 else " proxy"
        self.answers.setdefault(self.phase, Counter())[kind] += 1

    async def client(self) -> None:
        sk = {"Authorization": f"Bearer {self.gateway.secret_key}"}
        pk = {"Authorization": f"Bearer {self.gateway.publishable_key}"}
        async with httpx.AsyncClient(base_url=self.gateway.rest_url, timeout=60) as http:
            while not self.stop:
                try:
                    await self.pay(http, sk, pk)
                except httpx.TransportError:
                    self.answers.setdefault(self.phase, Counter())["no answer"] += 1
                await asyncio.sleep(0.05)

    async def pay(self, http: httpx.AsyncClient, sk: dict[str, str], pk: dict[str, str]) -> None:
        def key() -> dict[str, str]:
            return {"Idempotency-Key": str(uuid.uuid4())}

        created = await http.post(
            "/v1/payment_intents",
            json={"amount": 1234, "currency": self.currency},
            headers=sk | key(),
        )
        self.count(created)
        if created.status_code != 200:
            return
        self.created.add(created.json()["id"])
        token = await http.post("/v1/tokens", json={"card": CARD}, headers=pk | key())
        self.count(token)
        if token.status_code != 200:
            return
        confirmed = await http.post(
            f"/v1/payment_intents/{created.json()['id']}/confirm",
            json={"payment_method": token.json()["id"]},
            headers=sk | key(),
        )
        self.count(confirmed)
        if confirmed.status_code == 200:
            self.outcomes.setdefault(self.phase, Counter())[confirmed.json()["status"]] += 1

    def served(self, phase: str) -> int:
        return self.answers.get(phase, Counter())["200"]


@contextmanager
def loaded(
    gateway: Gateway, currency: str = "usd"
) -> Iterator[tuple[Load, list[asyncio.Task[None]]]]:
    load = Load(gateway, currency)
    tasks = [asyncio.ensure_future(load.client()) for _ in range(LOAD_CLIENTS)]
    try:
        yield load, tasks
    finally:
        load.stop = True


@pytest.fixture(scope="module")
async def own_postgres() -> AsyncIterator[EmbeddedPostgres]:
    folder = Path(tempfile.mkdtemp(prefix="paygate-outage-pg-"))
    server = EmbeddedPostgres(folder / "pg")
    await asyncio.to_thread(server.start)  # the launcher migrates it
    yield server
    await asyncio.to_thread(server.stop)


@pytest.fixture
def own_redis() -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """(url, kill, start) of a redis-server of this test's own."""
    port = _free_port()
    command = [_redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", tempfile.gettempdir()]
    running: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        running.append(process)
        deadline = time.monotonic() + 10
        while not _redis_answers("127.0.0.1", port):
            assert process.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.02)

    def kill() -> None:
        os.kill(running[-1].pid, signal.SIGKILL)
        running[-1].wait()

    start()
    try:
        yield f"redis://127.0.0.1:{port}/0", kill, start
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
                process.wait()


async def settled(conn: AsyncConnection) -> bool:
    return not await invariants.stuck(conn)


async def books_hold(gateway: Gateway, load: Load) -> list[str]:
    """Nothing half-written: recovery ends what was in flight, money and postings hold,
    every change has its events once, and every intent a client was told about exists."""
    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            conn = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await eventually(lambda: settled(conn))
            problems = [f"stuck: {x}" for x in await invariants.stuck(conn)]
            problems += await invariants.money_and_ledger(conn)
            problems += await invariants.outbox_once(conn)
            known = {row[0] for row in await conn.execute(text("SELECT id FROM payment_intents"))}
    finally:
        await engine.dispose()
    return problems + [
        f"intent {pi} answered 200, not in the database" for pi in load.created - known
    ]


async def test_postgres_stopped_and_restarted_under_load(own_postgres: EmbeddedPostgres) -> None:
    with running_gateway(
        own_postgres.url, api_processes=2, web_process=False, recovery_after_seconds=2
    ) as gateway:
        api_pids = {name: pid for name, pid in gateway.pids.items() if name.startswith("api-")}
        with loaded(gateway) as (load, tasks):
            assert await eventually(lambda: load.served("before") >= 10), load.answers
            load.phase = "down"
            await asyncio.to_thread(own_postgres.crash)
            # Every call in the window gets an answer, and the answer is UNAVAILABLE.
            assert await eventually(lambda: sum(load.answers.get("down", Counter()).values()) >= 20)
            await asyncio.to_thread(own_postgres.start)
            load.phase = "back"
            assert await eventually(lambda: load.served("back") >= 10), load.answers
            load.stop = True
            await asyncio.gather(*tasks)
        print(f"\nPostgreSQL outage, answers by phase: {load.answers}")
        down = load.answers["down"]
        assert down["503 UNAVAILABLE"] > 0, load.answers
        assert not {kind for kind in down if kind.startswith("5")} - {"503 UNAVAILABLE"}, (
            load.answers
        )
        assert not any(kind.startswith("500") for c in load.answers.values() for kind in c)
        still = {name: pid for name, pid in gateway.pids.items() if name.startswith("api-")}
        assert still == api_pids  # served again without a restart
        assert await books_hold(gateway, load) == []


async def test_redis_down_payments_go_on(
    gateway_database_url: str,
    own_redis: tuple[str, Callable[[], None], Callable[[], None]],
) -> None:
    url, kill, start = own_redis
    with running_gateway(
        gateway_database_url,
        api_processes=1,
        web_process=False,
        redis_url=url,
        vault_cvc_store="memory",  # one API process: CVCs may live in its memory
    ) as gateway:
        with loaded(gateway) as (load, tasks):
            assert await eventually(lambda: load.served("before") >= 10), load.answers
            load.phase = "down"
            await asyncio.to_thread(kill)
            assert await eventually(lambda: load.served("down") >= 20), load.answers
            await asyncio.to_thread(start)
            load.phase = "back"
            assert await eventually(lambda: load.served("back") >= 10), load.answers
            load.stop = True
            await asyncio.gather(*tasks)
        print(f"\nRedis outage, answers by phase: {load.answers}")
        assert not any(kind.startswith("5") for kind in load.answers["down"]), load.answers
        assert await books_hold(gateway, load) == []
