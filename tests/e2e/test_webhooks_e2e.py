"""Webhooks through the real process group: API processes, the worker, Envoy, PostgreSQL,
and a receiver on 127.0.0.1 (allowed by PAYGATE_WEBHOOK_ALLOWED_NETWORKS=127.0.0.1/32).

Every request a receiver gets is verified with the `standardwebhooks` package. The retry
schedule is compressed (PAYGATE_WEBHOOK_RETRY_SCHEDULE) so that retries happen in
seconds; waits poll the receiver with a generous ceiling and assert on what arrived,
never on how long it took.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from paygate.v1 import events_pb2, events_pb2_grpc
from standardwebhooks import Webhook, WebhookVerificationError

from tests.databases import fresh_database
from tests.e2e.conftest import free_port, running_gateway
from tests.e2e.gateway import Gateway

SCHEDULE = "0,0.5,0.5,0.5,1,1,1,2,2,2,2,2,2"
PAYMENTS = 20


@dataclasses.dataclass
class Received:
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    answered: int


class Receiver:
    """A webhook endpoint on 127.0.0.1: answers `script` in order, then `then`."""

    def __init__(
        self, *, script: list[int] | None = None, then: int = 200, delay: float = 0
    ) -> None:
        self.script = list(script or [])
        self.then = then
        self.delay = delay
        self.received: list[Received] = []
        self.secret = ""
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender died mid-request (a worker killed by SIGKILL): nothing
                    # was delivered, and no answer can reach it.
                    return
                if receiver.delay:
                    threading.Event().wait(receiver.delay)
                with receiver.lock:
                    status = receiver.script.pop(0) if receiver.script else receiver.then
                    receiver.received.append(
                        Received(
                            self.headers.get("webhook-id", ""), dict(self.headers), body, status
                        )
                    )
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self, *, ok: bool = False) -> list[str]:
        with self.lock:
            return [r.webhook_id for r in self.received if not ok or 200 <= r.answered < 300]

    def verify_all(self) -> None:
        webhook = Webhook(self.secret)
        for request in list(self.received):
            payload = webhook.verify(request.body, request.headers)
            assert payload["id"] == request.webhook_id

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
async def own_database(postgres_admin_url: str) -> AsyncIterator[str]:
    """A database of this module's own: no other gateway's worker claims its deliveries."""
    async with fresh_database(postgres_admin_url, "paygate_hooks") as url:
        yield url


@pytest.fixture(scope="module")
def hooks_gateway(own_database: str) -> Iterator[Gateway]:
    with running_gateway(
        own_database,
        api_processes=1,
        webhook_allowed_networks="127.0.0.1/32",
        webhook_retry_schedule=SCHEDULE,
        webhook_timeout=3.0,
        webhook_lease_margin_seconds=2.0,
        listen_poll_seconds=0.1,
    ) as running:
        yield running


@pytest.fixture
async def rest(hooks_gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {hooks_gateway.secret_key}"}
    async with httpx.AsyncClient(
        base_url=hooks_gateway.rest_url, headers=headers, timeout=30
    ) as client:
        yield client


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def endpoint(
    rest: httpx.AsyncClient, receiver: Receiver, events: list[str] | None = None
) -> dict[str, Any]:
    response = await rest.post(
        "/v1/webhook_endpoints",
        json={"url": receiver.url, "enabled_events": events or ["*"]},
        headers=key(),
    )
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    assert created["secret"].startswith("whsec_")
    receiver.secret = created["secret"]
    return created


async def disable(rest: httpx.AsyncClient, endpoint_id: str) -> None:
    response = await rest.post(
        f"/v1/webhook_endpoints/{endpoint_id}", json={"disabled": True}, headers=key()
    )
    assert response.status_code == 200, response.text


async def pay(rest: httpx.AsyncClient, gateway: Gateway) -> str:
    intent = await rest.post(
        "/v1/payment_intents", json={"amount": 1500, "currency": "usd"}, headers=key()
    )
    assert intent.status_code == 200, intent.text
    token = await rest.post(
        "/v1/tokens",
        json={
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
        },
        headers={"Authorization": f"Bearer {gateway.publishable_key}", **key()},
    )
    assert token.status_code == 200, token.text
    intent_id: str = intent.json()["id"]
    confirmed = await rest.post(
        f"/v1/payment_intents/{intent_id}/confirm",
        json={"payment_method": token.json()["id"]},
        headers=key(),
    )
    assert confirmed.status_code == 200, confirmed.text
    return intent_id


async def events_since(rest: httpx.AsyncClient, since: str) -> list[dict[str, Any]]:
    """Every event created since `since`, paged through with starting_after."""
    found: list[dict[str, Any]] = []
    cursor = ""
    while True:
        params = {"limit": "100", "created.gte": since}
        if cursor:
            params["starting_after"] = cursor
        response = await rest.get("/v1/events", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        found += page["data"]
        if not page["has_more"]:
            return found
        cursor = page["data"][-1]["id"]


async def eventually(check: Any, ceiling: float = 180.0) -> None:
    """Polls `check` until it is true; fails after `ceiling` seconds (a hung system)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + ceiling
    while not await check():
        assert loop.time() < end, "gave up waiting"
        await asyncio.sleep(0.2)


def now_rfc3339() -> str:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp.ToJsonString()


async def test_a_receiver_failing_three_times_then_recovering_gets_every_event_of_20_payments(
    rest: httpx.AsyncClient, hooks_gateway: Gateway
) -> None:
    receiver = Receiver(script=[500, 503, 500])
    try:
        since = now_rfc3339()
        created = await endpoint(rest, receiver)
        intents = [await pay(rest, hooks_gateway) for _ in range(PAYMENTS)]
        events = await events_since(rest, since)
        wanted = {e["id"] for e in events}
        assert len(wanted) == 3 * PAYMENTS  # created, processing, succeeded
        objects = {e["data"]["object"]["id"] for e in events}
        assert objects == set(intents)

        async def all_in() -> bool:
            return wanted <= set(receiver.ids(ok=True))

        await eventually(all_in)
        receiver.verify_all()
        assert [r.answered for r in receiver.received[:3]] == [500, 503, 500]
        # The delivery log shows the failed tries, and every event is delivered.
        log = await rest.get(
            "/v1/webhook_deliveries", params={"webhook_endpoint": created["id"], "limit": "100"}
        )
        assert log.status_code == 200, log.text
        statuses = [a["status_code"] for d in log.json()["data"] for a in d["attempts"]]
        assert statuses.count(500) + statuses.count(503) == 3
        delivered = await rest.get(
            "/v1/events", params={"delivery_success": "false", "created.gte": since}
        )
        assert delivered.json()["data"] == []
    finally:
        await disable(rest, created["id"])
        receiver.close()


async def test_events_are_listed_filtered_and_paged_over_rest_and_grpc(
    rest: httpx.AsyncClient, hooks_gateway: Gateway
) -> None:
    since = now_rfc3339()
    for _ in range(3):
        await pay(rest, hooks_gateway)
    first = await rest.get(
        "/v1/events",
        params={"types": "payment_intent.succeeded", "limit": "2", "created.gte": since},
    )
    assert first.status_code == 200, first.text
    page = first.json()
    assert [e["type"] for e in page["data"]] == ["payment_intent.succeeded"] * 2 and page[
        "has_more"
    ]
    second = await rest.get(
        "/v1/events",
        params={
            "types": "payment_intent.succeeded",
            "limit": "2",
            "created.gte": since,
            "starting_after": page["data"][-1]["id"],
        },
    )
    rest_ids = [e["id"] for e in page["data"] + second.json()["data"]]
    assert len(rest_ids) == 3 and not second.json()["has_more"]
    one = await rest.get(f"/v1/events/{rest_ids[0]}")
    assert one.json()["data"]["object"]["status"] == "SUCCEEDED"
    assert one.json()["request"]["idempotency_key"]  # the confirm's Idempotency-Key
    bad = await rest.get("/v1/events", params={"types": "payment_intent.nope"})
    assert bad.status_code == 400

    async with grpc.aio.insecure_channel(hooks_gateway.grpc_target) as channel:
        stub = events_pb2_grpc.EventServiceStub(channel)
        auth = (("authorization", f"Bearer {hooks_gateway.secret_key}"),)
        request = events_pb2.ListEventsRequest(types=["payment_intent.succeeded"], limit=2)
        request.created.gte.FromJsonString(since)
        got = await stub.ListEvents(request, metadata=auth)
        request.starting_after = got.data[-1].id
        more = await stub.ListEvents(request, metadata=auth)
        assert [e.id for e in [*got.data, *more.data]] == rest_ids
        single = await stub.GetEvent(events_pb2.GetEventRequest(id=rest_ids[0]), metadata=auth)
        assert single.data.object["status"] == "SUCCEEDED"


async def test_410_disables_the_endpoint(rest: httpx.AsyncClient, hooks_gateway: Gateway) -> None:
    receiver = Receiver(then=410)
    try:
        created = await endpoint(rest, receiver, ["payment_intent.created"])
        await rest.post(
            "/v1/payment_intents", json={"amount": 100, "currency": "usd"}, headers=key()
        )

        async def disabled() -> bool:
            got = await rest.get(f"/v1/webhook_endpoints/{created['id']}")
            return bool(got.json()["disabled"])

        await eventually(disabled)
        got = (await rest.get(f"/v1/webhook_endpoints/{created['id']}")).json()
        assert "410" in got["disabled_reason"] and got["secret"] == ""
        assert len(receiver.received) == 1  # no retry after a 410
    finally:
        receiver.close()


async def test_kill_9_of_the_worker_mid_batch_loses_nothing(
    rest: httpx.AsyncClient, hooks_gateway: Gateway
) -> None:
    receiver = Receiver(delay=0.5)  # slow: requests are in flight when the worker dies
    try:
        since = now_rfc3339()
        created = await endpoint(rest, receiver)
        for _ in range(8):
            await pay(rest, hooks_gateway)
        wanted = {e["id"] for e in await events_since(rest, since)}

        async def started() -> bool:
            return len(receiver.received) >= 1

        await eventually(started)
        killed = hooks_gateway.pids["worker"]
        os.kill(killed, signal.SIGKILL)

        async def all_in() -> bool:
            return wanted <= set(receiver.ids(ok=True))

        await eventually(all_in, ceiling=120)
        assert hooks_gateway.pids.get("worker") not in (None, killed)  # restarted
        receiver.verify_all()
    finally:
        await disable(rest, created["id"])
        receiver.close()


@pytest.fixture
def second_worker(hooks_gateway: Gateway, own_database: str, tmp_path: Path) -> Iterator[None]:
    env = {
        **os.environ,
        "DATABASE_URL": own_database,
        "PAYGATE_DATA_DIR": str(hooks_gateway.data_dir),
        "PAYGATE_ACQUIRER_TARGET": hooks_gateway.acquirer_target,
        "PAYGATE_ACQUIRER_SERVICE_TOKEN": hooks_gateway.acquirer_service_token,
        "PAYGATE_ORBIT_URL": hooks_gateway.orbit_url,
        "PAYGATE_KORA_URL": hooks_gateway.kora_url,
        "PAYGATE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
        "PAYGATE_WEBHOOK_RETRY_SCHEDULE": SCHEDULE,
        "PAYGATE_WEBHOOK_TIMEOUT": "3",
        "PAYGATE_WEBHOOK_LEASE_MARGIN_SECONDS": "2",
        "PAYGATE_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "servers.cli", "serve", "--role", "worker"]
    command += ["--listen", f"127.0.0.1:{free_port()}"]
    with (tmp_path / "worker2.log").open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_two_workers_never_send_the_same_attempt_twice(
    rest: httpx.AsyncClient, hooks_gateway: Gateway, second_worker: None
) -> None:
    receiver = Receiver(delay=0.05)
    try:
        since = now_rfc3339()
        created = await endpoint(rest, receiver)
        for _ in range(PAYMENTS):
            await pay(rest, hooks_gateway)
        wanted = {e["id"] for e in await events_since(rest, since)}

        async def all_in() -> bool:
            return wanted <= set(receiver.ids())

        await eventually(all_in)
        await asyncio.sleep(1.0)  # anything sent twice would have arrived by now
        ids = receiver.ids()
        assert len(ids) == len(set(ids)) == len(wanted)
        receiver.verify_all()
    finally:
        await disable(rest, created["id"])
        receiver.close()


@pytest.fixture
def listening(hooks_gateway: Gateway, tmp_path: Path) -> Iterator[tuple[Receiver, Path]]:
    """`paygate listen` as a developer runs it, forwarding to a receiver on 127.0.0.1."""
    receiver = Receiver()
    command = [sys.executable, "-m", "servers.cli", "listen", "--forward-to", receiver.url]
    command += ["--events", "payment_intent.succeeded,payment_intent.created"]
    command += ["--target", hooks_gateway.grpc_target]
    env = {**os.environ, "PAYGATE_API_KEY": hooks_gateway.secret_key}
    out = tmp_path / "listen.out"
    with out.open("w") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield receiver, out
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        receiver.close()


async def test_paygate_listen_forwards_the_events_to_a_local_receiver(
    rest: httpx.AsyncClient, hooks_gateway: Gateway, listening: tuple[Receiver, Path]
) -> None:
    receiver, out = listening

    async def ready() -> bool:
        return "Ready!" in out.read_text()

    await eventually(ready, ceiling=120)
    receiver.secret = out.read_text().split("signing secret is ")[1].split()[0]
    intent_id = await pay(rest, hooks_gateway)

    async def forwarded() -> bool:
        return len(receiver.received) >= 2

    await eventually(forwarded)
    receiver.verify_all()  # signed with the session secret the CLI printed
    bodies = [json.loads(r.body) for r in receiver.received]
    assert {b["type"] for b in bodies} == {"payment_intent.created", "payment_intent.succeeded"}
    assert {b["data"]["object"]["id"] for b in bodies} == {intent_id}
    first = receiver.received[0]
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(first.body, first.headers)

    async def shown() -> bool:
        return "<-- [200]" in out.read_text()

    await eventually(shown, ceiling=120)


async def test_paygate_trigger_makes_the_objects_that_fire_the_event(
    rest: httpx.AsyncClient, hooks_gateway: Gateway
) -> None:
    since = now_rfc3339()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "servers.cli",
        "trigger",
        "payment_intent.payment_failed",
        "--target",
        hooks_gateway.grpc_target,
        env={**os.environ, "PAYGATE_API_KEY": hooks_gateway.secret_key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    assert b"Triggered payment_intent.payment_failed" in output
    failed = await rest.get(
        "/v1/events", params={"types": "payment_intent.payment_failed", "created.gte": since}
    )
    (event,) = failed.json()["data"]
    assert event["data"]["object"]["last_payment_error"]["decline_code"] == "generic_decline"


async def test_the_event_stream_over_rest_is_server_sent_events(
    rest: httpx.AsyncClient, hooks_gateway: Gateway
) -> None:
    async def data_lines(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
        async for line in lines:
            if line.startswith("data:"):
                yield json.loads(line.removeprefix("data:"))

    async with rest.stream(
        "GET",
        "/v1/event_stream",
        params={"events": "payment_intent.created"},
        headers={"Accept": "text/event-stream"},
    ) as response:
        assert response.status_code == 200
        messages = data_lines(response.aiter_lines())
        first = await anext(messages)
        assert first["listening"] is True
        made = await rest.post(
            "/v1/payment_intents", json={"amount": 700, "currency": "usd"}, headers=key()
        )
        second = await asyncio.wait_for(anext(messages), timeout=60)
        assert second["event"]["type"] == "payment_intent.created"
        assert second["event"]["data"]["object"]["id"] == made.json()["id"]
