"""The whole gateway for tests: the launcher of `paygate up` on a thread of its own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import httpx

from servers.runtime.launcher import READY_TIMEOUT, Launcher, Ready, StartupError
from servers.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Gateway:
    """A running process group, started by start_gateway() on a thread of its own."""

    rest_url: str
    grpc_target: str
    admin_url: str
    database_url: str
    data_dir: Path
    merchant_id: str
    secret_key: str
    publishable_key: str
    # The acquirer role every child talks to, and the credential it requires.
    acquirer_target: str
    acquirer_service_token: str
    _launcher: Launcher
    _loop: asyncio.AbstractEventLoop
    _thread: threading.Thread
    _result: concurrent.futures.Future[int]
    # The demo shop, when it runs (Settings.demo_port).
    demo_url: str = ""
    # Child name (api-0, ..., worker, web, envoy) -> its Prometheus /metrics URL.
    metrics_urls: dict[str, str] = field(default_factory=dict)
    # The JSON PSPs every child routes to (the PSP role's, by default).
    orbit_url: str = ""
    kora_url: str = ""
    wallet_url: str = ""
    netbanking_url: str = ""

    @property
    def pids(self) -> dict[str, int]:
        """Child name (acquirer, api-0, ..., worker, envoy) -> pid, for those running now."""
        return dict(self._launcher.pids)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM to everything, wait; returns the launcher's exit code."""
        if not self._result.done():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                self._loop.call_soon_threadsafe(self._launcher.request_stop)
        code = self._result.result(timeout)
        self._thread.join(timeout)
        return code

    def operator_env(self, **overrides: str) -> dict[str, str]:
        """The environment an operator's `paygate` command needs to reach this gateway's
        database and every acquirer it routed to; overrides name the simulators by field."""
        env = {
            "DATABASE_URL": self.database_url,
            "PAYGATE_DATA_DIR": str(self.data_dir),
            "PAYGATE_ACQUIRER_TARGET": self.acquirer_target,
            "PAYGATE_ACQUIRER_SERVICE_TOKEN": self.acquirer_service_token,
            "PAYGATE_WALLET_URL": self.wallet_url,
            "PAYGATE_NETBANKING_URL": self.netbanking_url,
            "PAYGATE_ORBIT_URL": self.orbit_url,
            "PAYGATE_KORA_URL": self.kora_url,
        }
        return {**env, **overrides}

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_gateway(
    settings: Settings, *, out: TextIO | None = None, timeout: float = 300.0
) -> Gateway:
    """Start the whole group with `settings` (ports, data dir, DATABASE_URL...) and wait
    until it is ready. The launcher runs its own event loop on a thread, so it keeps
    reading its children's output whatever the caller's loop is doing."""
    ready_future: concurrent.futures.Future[tuple[Ready, Launcher, asyncio.AbstractEventLoop]]
    ready_future = concurrent.futures.Future()
    result: concurrent.futures.Future[int] = concurrent.futures.Future()
    started: dict[str, Any] = {}

    async def main() -> int:
        launcher = Launcher(settings, out=out)
        started.update(launcher=launcher, loop=asyncio.get_running_loop())
        try:
            ready = await launcher.start()
        except BaseException as err:
            ready_future.set_exception(err)
            return 1
        ready_future.set_result((ready, launcher, asyncio.get_running_loop()))
        return await launcher.wait()

    def thread_main() -> None:
        try:
            result.set_result(asyncio.run(main()))
        except BaseException as err:
            result.set_exception(err)
            if not ready_future.done():
                ready_future.set_exception(err)

    thread = threading.Thread(target=thread_main, name="paygate-launcher", daemon=True)
    thread.start()
    try:
        ready, launcher, loop = ready_future.result(timeout)
    except concurrent.futures.TimeoutError:
        if started:
            started["loop"].call_soon_threadsafe(started["launcher"].request_stop)
        thread.join(READY_TIMEOUT)
        raise StartupError(f"the gateway was not ready after {timeout:.0f} s") from None
    return Gateway(
        rest_url=ready.rest_url,
        grpc_target=ready.grpc_target,
        admin_url=ready.admin_url,
        database_url=ready.database_url,
        data_dir=ready.data_dir,
        merchant_id=ready.seed.merchant_id,
        secret_key=ready.seed.secret_key,
        publishable_key=ready.seed.publishable_key,
        acquirer_target=ready.acquirer_target,
        acquirer_service_token=launcher.settings.acquirer_service_token.reveal(),
        orbit_url=ready.orbit_url,
        kora_url=ready.kora_url,
        wallet_url=ready.wallet_url,
        netbanking_url=ready.netbanking_url,
        _launcher=launcher,
        _loop=loop,
        _thread=thread,
        _result=result,
        demo_url=ready.demo_url,
        metrics_urls=dict(ready.metrics_urls),
    )


def fresh_client_address() -> str:
    """A loopback address of its own (127.x.y.z: all of 127/8 reaches this host), so that
    per-address rate limits (signup 10/hour, login 5/minute) count this test's calls only,
    not those of earlier runs that share the test Redis."""
    return "127." + ".".join(str(secrets.randbelow(254) + 1) for _ in range(3))


def sign_up(gateway: Gateway, password: str, *, wrong_login_first: bool = False) -> dict[str, Any]:
    """A new user and their account (they are its OWNER), signed in over REST: the
    Session (access_token, refresh_token, accounts...). From an address of its own."""
    email = f"user-{secrets.token_hex(6)}@example.com"
    transport = httpx.HTTPTransport(local_address=fresh_client_address())
    with httpx.Client(base_url=gateway.rest_url, timeout=30, transport=transport) as http:
        signup = http.post(
            "/v1/auth/signup",
            json={"email": email, "password": password, "business_name": "Test Ltd"},
        )
        assert signup.status_code == 200, signup.text
        if wrong_login_first:  # a failed login with the password in it, for log scans
            wrong = http.post("/v1/auth/login", json={"email": email, "password": password + "x"})
            assert wrong.status_code == 401, wrong.text
        login = http.post("/v1/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
    session: dict[str, Any] = login.json()
    return session


class Patient(httpx.HTTPTransport):
    """An httpx transport that waits out a 429 as a merchant's client does (Retry-After),
    for tests that sweep one merchant faster than its documented limits and test the
    answer after the limiter. A test for which a 429 is the defect does not use it."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(20):
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            response.read()
            response.close()
            time.sleep(float(response.headers.get("retry-after", "1")))
        return response


def reconcile_today(env: dict[str, str]) -> tuple[int, list[dict[str, Any]]]:
    """`paygate reconcile` for today's date as an operator runs it: its exit code and the
    JSON lines it logged, the last one the summary."""
    day = datetime.now(UTC).date().isoformat()
    done = subprocess.run(
        [sys.executable, "-m", "servers.cli", "reconcile", "--date", day],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    lines = [json.loads(x) for x in (done.stdout + done.stderr).splitlines() if x.startswith("{")]
    return done.returncode, lines
