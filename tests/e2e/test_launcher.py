"""The process group: Envoy in front of the API processes, and `paygate up` as a whole."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from servers.runtime.embedded_postgres import EmbeddedPostgres
from servers.runtime.launcher import REPO_ROOT
from tests.e2e.conftest import free_port_range, free_ports, log_tail
from tests.e2e.gateway import Gateway

SERVING = health_pb2.HealthCheckResponse.SERVING


def health(target: str, timeout: float = 5.0) -> int:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    return int(response.status)


def alive(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in processes if alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in processes if alive(p)]


# --- the session's gateway -------------------------------------------------------------


def test_health_answers_serving_through_envoy(gateway: Gateway) -> None:
    assert health(gateway.grpc_target) == SERVING


def test_rest_port_transcodes_to_the_api(gateway: Gateway) -> None:
    response = httpx.get(
        f"{gateway.rest_url}/v1/payment_intents",
        headers={"Authorization": f"Bearer {gateway.secret_key}"},
        params={"limit": 1},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["has_more"] in (True, False)
    assert isinstance(body["data"], list)


def test_api_errors_are_json_with_the_http_status(gateway: Gateway) -> None:
    response = httpx.get(f"{gateway.rest_url}/v1/payment_intents")
    assert response.status_code == 401
    assert response.json()["code"] == 16  # UNAUTHENTICATED


def test_envoys_own_errors_are_json_statuses(gateway: Gateway) -> None:
    auth = {"Authorization": f"Bearer {gateway.secret_key}"}

    unknown = httpx.get(f"{gateway.rest_url}/v1/no_such_thing", headers=auth)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/json")
    body = unknown.json()
    assert body["code"] == 5
    assert body["details"][0]["reason"] == "ROUTE_NOT_FOUND"

    query = httpx.get(f"{gateway.rest_url}/v1/payment_intents?bogus=1", headers=auth)
    assert query.status_code == 400
    assert query.json()["code"] == 3

    malformed = httpx.post(
        f"{gateway.rest_url}/v1/payment_intents",
        headers={**auth, "Content-Type": "application/json", "Idempotency-Key": "malformed"},
        content=b'{"amount": ',
    )
    assert malformed.status_code == 400
    assert malformed.headers["content-type"].startswith("application/json")
    assert malformed.json()["details"][0]["reason"] == "INVALID_REQUEST"


def test_cors_preflight_allows_browser_calls(gateway: Gateway) -> None:
    response = httpx.options(
        f"{gateway.rest_url}/v1/payment_intents",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,idempotency-key,content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://shop.example"
    allowed = response.headers["access-control-allow-headers"]
    assert "idempotency-key" in allowed and "authorization" in allowed


def test_rest_port_carries_grpc_web_for_browsers(gateway: Gateway) -> None:
    empty_request = b"\x00\x00\x00\x00\x00"  # one uncompressed frame, zero bytes long
    response = httpx.post(
        f"{gateway.rest_url}/grpc.health.v1.Health/Check",
        content=empty_request,
        headers={
            "Content-Type": "application/grpc-web+proto",
            "X-Grpc-Web": "1",
            "Origin": "https://shop.example",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://shop.example"
    serving = b"\x00\x00\x00\x00\x02\x08\x01"  # HealthCheckResponse{status: SERVING}
    assert response.content.startswith(serving)
    assert b"grpc-status:0" in response.content  # the trailers frame


def test_grpc_port_routes_only_public_services(gateway: Gateway) -> None:
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        call = channel.unary_unary("/paygate.internal.v1.Admin/Anything")
        with pytest.raises(grpc.RpcError) as error:
            call(b"", timeout=5)
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_grpc_port_speaks_http2_only(gateway: Gateway) -> None:
    host, port = gateway.grpc_target.rsplit(":", 1)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{host}:{port}/grpc.health.v1.Health/Check", timeout=5)


def test_requests_are_balanced_over_every_api_process(gateway: Gateway) -> None:
    def per_host() -> dict[str, int]:
        text = httpx.get(f"{gateway.admin_url}/clusters").text
        found = re.findall(r"^api::(127\.0\.0\.1:\d+)::rq_total::(\d+)$", text, re.M)
        return {host: int(count) for host, count in found}

    before = per_host()
    api_processes = [name for name in gateway.pids if name.startswith("api-")]
    assert len(before) == len(api_processes)
    for _ in range(20):
        assert health(gateway.grpc_target) == SERVING
    after = per_host()
    assert all(after[host] - before[host] >= 5 for host in before), (before, after)


def test_envoy_admin_listens_on_loopback_only(gateway: Gateway) -> None:
    admin_port = int(gateway.admin_url.rsplit(":", 1)[1])
    envoy = psutil.Process(gateway.pids["envoy"])
    listening = [
        c.laddr
        for c in envoy.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == admin_port
    ]
    assert listening, "Envoy admin is not listening"
    assert {address.ip for address in listening} == {"127.0.0.1"}
    assert httpx.get(f"{gateway.admin_url}/ready").text.strip() == "LIVE"


def test_a_killed_api_process_is_restarted(gateway: Gateway) -> None:
    old = gateway.pids["api-0"]
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = gateway.pids.get("api-0")
        if new not in (None, old) and _direct_health(gateway, 0) == SERVING:
            break
        time.sleep(0.1)
    else:
        pytest.fail("api-0 was not restarted")
    for _ in range(10):  # and Envoy sends traffic through it again without errors
        assert health(gateway.grpc_target) == SERVING


def _direct_health(gateway: Gateway, index: int) -> int | None:
    process = psutil.Process(gateway.pids[f"api-{index}"])
    listen = process.cmdline()[process.cmdline().index("--listen") + 1]
    try:
        return health(listen, timeout=1)
    except grpc.RpcError:
        return None


# --- `paygate up` as a process -------------------------------------------------------------


class Up:
    """`python -m servers.cli up` in a process of its own, output in a file."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.log = data_dir.parent / f"up-{time.monotonic_ns()}.log"
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "servers.cli", "up"],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 120) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if "Ctrl-C stops everything." in text:
                pattern = r"^  (secret key|publishable key|merchant) +(\S+)"
                return dict(re.findall(pattern, text, re.M))
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.process.kill()
        pytest.fail(f"`paygate up` did not become ready:\n{log_tail(self.log)}")

    def children(self) -> list[psutil.Process]:
        return list(psutil.Process(self.process.pid).children(recursive=True))


@pytest.fixture
def up_env() -> Iterator[tuple[Path, dict[str, str]]]:
    """Environment for `paygate up` on the embedded PostgreSQL, free ports, a fresh dir."""
    # Directly under /tmp: as root the data dir's parents are opened to the pgserver user.
    root = Path(tempfile.mkdtemp(prefix="paygate-up-"))
    data_dir = root / "var"
    ports = free_ports(9)
    http_port, grpc_port, admin_port, worker_port, web_port, acquirer_port, demo_port = ports[:7]
    api_base = free_port_range(2, set(ports))
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in ("DATABASE_URL", "PAYGATE_ACQUIRER_TARGET", "PAYGATE_ORBIT_URL", "PAYGATE_KORA_URL")
    }
    env.update(
        PAYGATE_DATA_DIR=str(data_dir),
        PAYGATE_HTTP_PORT=str(http_port),
        PAYGATE_GRPC_PORT=str(grpc_port),
        PAYGATE_ENVOY_ADMIN_PORT=str(admin_port),
        PAYGATE_API_PROCESSES="2",
        PAYGATE_API_BASE_PORT=str(api_base),
        PAYGATE_METRICS_BASE_PORT=str(free_port_range(5, {*ports, api_base, api_base + 1})),
        PAYGATE_WORKER_PORT=str(worker_port),
        PAYGATE_WEB_PORT=str(web_port),
        PAYGATE_ACQUIRER_PORT=str(acquirer_port),
        PAYGATE_DEMO_PORT=str(demo_port),
        PAYGATE_STRIPE_PORT=str(ports[7]),
        PAYGATE_PSP_PORT=str(ports[8]),
        PAYGATE_DB_POOL_SIZE="2",
    )
    yield data_dir, env
    if (data_dir / "pg" / "postmaster.pid").exists():  # a failed test left it running
        EmbeddedPostgres(data_dir / "pg").stop()
    shutil.rmtree(root, ignore_errors=True)


def test_up_survives_a_killed_launcher_and_stops_cleanly_on_sigterm(
    up_env: tuple[Path, dict[str, str]],
) -> None:
    data_dir, env = up_env

    # First start: embedded PostgreSQL (initdb), migrations, a new test merchant.
    first = Up(data_dir, env)
    keys = first.wait_ready()
    assert keys["secret key"].startswith("sk_test_")
    assert keys["publishable key"].startswith("pk_test_")
    seed_file = data_dir / "seed.json"
    assert stat.S_IMODE(seed_file.stat().st_mode) == 0o600
    assert json.loads(seed_file.read_text())["secret_key"] == keys["secret key"]
    children = first.children()
    assert {p.name() for p in children} >= {"envoy", "redis-server"}
    # The embedded Redis, the acquirer, the PSPs, two API processes, the worker, the web
    # process, the Stripe-compatible surface, Envoy, the demo shop; PostgreSQL is a daemon.
    assert len(children) == 10

    # A SIGKILLed launcher takes its children with it (parent-death signal) ...
    first.process.kill()
    first.process.wait()
    if shutil.which("setpriv") is None:  # no parent-death signal on this system
        for child in children:
            child.terminate()
    assert wait_gone(children, 30) == []
    # ... and the next start adopts the PostgreSQL it left and reuses the merchant.
    second = Up(data_dir, env)
    assert second.wait_ready() == keys
    children = second.children()
    postmaster = psutil.Process(int((data_dir / "pg" / "postmaster.pid").read_text().split()[0]))

    # SIGTERM: everything stops, in order, with exit code 0 and no orphan left.
    second.process.send_signal(signal.SIGTERM)
    assert second.process.wait(60) == 0, log_tail(second.log)
    assert wait_gone([*children, postmaster], 30) == []
    assert not (data_dir / "pg" / "postmaster.pid").exists()
    log = second.log.read_text()
    assert '"msg": "stopped", "exit_code": 0' in log
