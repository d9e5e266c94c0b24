"""`paygate up`: the whole gateway as one supervised group of processes.

Start-up, in order:
1. the database: DATABASE_URL when set, else the embedded PostgreSQL under
   <data_dir>/pg (started here, stopped here);
2. migrations (`adapters.sql.migrate.migrate`, a no-op when the schema is current);
3. the test merchant: seeded once, its keys kept in <data_dir>/seed.json (mode 0600) and
   reused while that merchant and its secret key still exist in the database;
4. the acquirer role (`--role acquirer --listen 127.0.0.1:<acquirer_port>`: the simulated
   card network and UPI switch as one process, so that every process below sees the same
   acquirer), unless PAYGATE_ACQUIRER_TARGET names one already; every child gets
   PAYGATE_ACQUIRER_TARGET, and a random PAYGATE_ACQUIRER_SERVICE_TOKEN unless one is set;
   then, with vault_processes=1, the vault role (`--role vault --listen
   127.0.0.1:<vault_port>`: the cardholder-data zone, the vault and the connectors, serving
   POST /v1/tokens on 127.0.0.1:<vault_tokens_port> for Envoy); every other child gets
   PAYGATE_VAULT_TARGET and a random PAYGATE_VAULT_SERVICE_TOKEN unless one is set;
5. `api_processes` API processes (`python -m servers.cli serve --role api --listen
   127.0.0.1:<api_base_port + i>`), `worker_processes` workers (`--role worker`, health
   on 127.0.0.1:<worker_port>, the others after the API ports) and `web_processes` web
   processes (`--role web` on 127.0.0.1:<web_port>, the others after the extra workers'
   ports; the checkout and 3-D Secure pages, balanced by Envoy; none when web_port is 0:
   the API processes serve the pages),
   each ready when its gRPC health check says SERVING, and the Stripe-compatible surface
   (`--role stripe` on 127.0.0.1:<stripe_port>, servers/stripe; none when it is 0),
   ready when its port accepts;
6. Envoy with <data_dir>/envoy.yaml rendered from envoy/envoy.yaml.tmpl, ready when its
   admin /ready answers and a gRPC health check through its gRPC listener says SERVING.
Then the endpoints, the keys and a curl line are printed.

Supervision: a child that dies unexpectedly is logged and restarted after a back-off
(0.5 s, doubling up to 15 s). While an API process is down, Envoy's health check and its
connect-failure retries send traffic to the others. A child that dies more than
MAX_CRASHES times within CRASH_WINDOW seconds is crash-looping: the launcher gives up,
stops everything and exits 1 (a restart would not help; a human must look). A child that
dies during start-up fails the start-up the same way.

Shutdown (Ctrl-C, SIGTERM, or stop() of the test handle): SIGTERM to the API processes
and the worker first, so that they drain while Envoy still carries their in-flight
responses and the acquirer still answers their calls, then SIGTERM to Envoy and the
acquirer; a child still running after its grace period is SIGKILLed (a second
Ctrl-C does that at once). The embedded PostgreSQL is stopped last. Exit code 0.

Children run in their own process group (the terminal's Ctrl-C reaches the launcher only,
which then stops them in order) and, where util-linux's setpriv exists, with a parent-death
signal, so that they do not outlive a launcher that was SIGKILLed. Their output ends up on
the launcher's stdout, one JSON object per line, tagged with "proc" (api-0, envoy...): the
Python children write their log lines there themselves (an inherited descriptor,
PAYGATE_LOG_FD, servers/runtime/logging_setup.py), tagged and scrubbed; everything else
(Envoy's access log, stderr, gRPC core's text) flows through a pipe that the launcher
reads, scrubs and tags, a read's worth of lines at a time; a line that is not JSON is
wrapped into one.

Beside it in servers/runtime: seed.py (the test merchant), child_logs.py (the children's
output on one stream), probes.py (readiness). Tests run the same launcher on a thread of
their own through tests/e2e/gateway.py (`start_gateway`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import shutil
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from core.shared.secret import Secret
from servers.runtime import embedded_redis, envoy_config
from servers.runtime.child_logs import LINE_LIMIT, TEXT_BURST, JsonLog, Relay
from servers.runtime.embedded_postgres import EmbeddedPostgres, embedded_postgres
from servers.runtime.logging_setup import LOG_FD_ENV, LOG_PROC_ENV
from servers.runtime.probes import envoy_ready, grpc_health, tcp_open
from servers.runtime.seed import Seed, ensure_seed
from servers.runtime.settings import Settings

# Where the PSP role serves each (sandbox/psp/server.py); kept here so the launcher does
# not import the simulators.
KORA_PREFIX, WALLET_PREFIX, NETBANKING_PREFIX = "/kora", "/wallet", "/netbanking"

REPO_ROOT = Path(__file__).resolve().parents[2]

READY_TIMEOUT = 60.0  # seconds a child gets to become ready, when it starts alone
API_GRACE = 15.0  # the API server drains for 10 s (servers.roles.api.GRACE_SECONDS)
ENVOY_GRACE = 5.0
WORKER_GRACE = 10.0  # a batch in progress finishes before the worker exits
ACQUIRER_GRACE = 10.0  # the acquirer drains for 5 s (servers.roles.acquirer.GRACE_SECONDS)
VAULT_GRACE = 15.0  # the vault role drains for 10 s (servers.roles.vault.server.GRACE_SECONDS)
PSP_GRACE = 5.0  # aiohttp's cleanup closes its connections at once
REDIS_GRACE = 5.0
# Children that others call: started first, stopped last.
INFRASTRUCTURE = frozenset({"envoy", "acquirer", "psp", "redis", "vault"})
WEB_GRACE = API_GRACE  # the web role drains like an API process
MAX_CRASHES = 5
CRASH_WINDOW = 60.0
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 15.0


class StartupError(RuntimeError):
    pass


# --- children --------------------------------------------------------------------------


def _role_child(name: str, role: str, listen: str, grace: float, metrics_port: int = 0) -> _Child:
    """`paygate serve --role ROLE --listen LISTEN` in this interpreter; with its own
    metrics and probes port when `metrics_port` is set."""
    argv = [sys.executable, "-m", "servers.cli", "serve", "--role", role, "--listen", listen]
    child = _Child(name, argv, grace)
    if metrics_port:
        child.env["PAYGATE_METRICS_PORT"] = str(metrics_port)
        child.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    return child


class _Child:
    def __init__(self, name: str, argv: Sequence[str], grace: float) -> None:
        self.name = name
        self.argv = list(argv)
        self.grace = grace
        self.process: asyncio.subprocess.Process | None = None
        self.pump: asyncio.Task[None] | None = None
        self.crashes: deque[float] = deque()
        self.started_at = 0.0
        self.env: dict[str, str] = {}  # beside the group's environment
        self.metrics_url = ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


def _parent_death_prefix() -> list[str]:
    """`setpriv --pdeathsig TERM --`: the child gets SIGTERM if the launcher dies."""
    if sys.platform.startswith("linux"):
        setpriv = shutil.which("setpriv")
        if setpriv:
            return [setpriv, "--pdeathsig", "TERM", "--"]
    return []


@dataclass(frozen=True)
class Ready:
    rest_url: str
    grpc_target: str
    admin_url: str
    database_url: str
    embedded_database: bool
    seed: Seed
    data_dir: Path
    acquirer_target: str = ""
    vault_target: str = ""  # the vault role, when the zone runs in its own process
    demo_url: str = ""  # the demo merchant's shop, when it runs
    # Prometheus targets: each process's /metrics (name -> URL), Envoy's on its admin port.
    metrics_urls: tuple[tuple[str, str], ...] = ()
    stripe_url: str = ""  # the Stripe-compatible surface through Envoy, when it runs
    orbit_url: str = ""  # the JSON PSPs the connectors call (the PSP role's, by default)
    kora_url: str = ""
    wallet_url: str = ""
    netbanking_url: str = ""


class Launcher:
    """The process group. start(), then wait(); request_stop() from a signal or a test."""

    def __init__(
        self,
        settings: Settings,
        *,
        out: TextIO | None = None,
        envoy_log_level: str = "warn",
    ) -> None:
        data_dir = Path(settings.data_dir).absolute()
        self.settings = dataclasses.replace(settings, data_dir=data_dir)
        self.log = JsonLog(out if out is not None else sys.stdout)
        self.envoy_log_level = envoy_log_level
        self.exit_code = 0
        self._pg: EmbeddedPostgres | None = None
        self._pg_start: asyncio.Future[str] | None = None
        self._redis_socket = Path()  # the embedded Redis's, when there is one
        self._children: list[_Child] = []
        self._supervisors: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._stopping = False
        self._force = False
        self._start_task: asyncio.Task[Any] | None = None
        self._shutdown_done: asyncio.Future[None] | None = None
        self._env: dict[str, str] = {}
        self._direct_fd: int | None = None  # -1: the output has no descriptor

    # -- public ------------------------------------------------------------------------

    @property
    def pids(self) -> dict[str, int]:
        return {c.name: c.pid for c in self._children if c.running and c.pid is not None}

    async def start(self) -> Ready:
        """Everything up and ready; on failure (or request_stop()) everything is stopped."""
        self._start_task = asyncio.current_task()
        try:
            return await self._start()
        except BaseException as err:
            if not isinstance(err, asyncio.CancelledError):
                self.log("error", "start-up failed", error=str(err))
                self.exit_code = 1
            await self.shutdown()
            raise
        finally:
            self._start_task = None

    def request_stop(self) -> None:
        """Stop gracefully; called a second time, kill the children at once."""
        if self._stop.is_set():
            if not self._force:
                self._force = True
                self.log("warning", "second stop request: killing the children")
                for child in self._children:
                    if child.running and child.process is not None:
                        with contextlib.suppress(ProcessLookupError):
                            child.process.kill()
            return
        self._stop.set()
        if self._start_task is not None and not self._start_task.done():
            self._start_task.cancel()

    async def wait(self) -> int:
        """Supervise until a stop request or a crash loop; then shut down. The exit code."""
        await self._stop.wait()
        await self.shutdown()
        return self.exit_code

    async def shutdown(self) -> None:
        if self._shutdown_done is not None:
            await asyncio.shield(self._shutdown_done)
            return
        self._shutdown_done = asyncio.get_running_loop().create_future()
        self._stopping = True
        self._stop.set()
        try:
            for task in self._supervisors:
                task.cancel()
            for task in self._supervisors:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self._children:
                self.log("info", "stopping")
            callers = [c for c in self._children if c.name not in INFRASTRUCTURE]
            await asyncio.gather(*(self._terminate(c) for c in callers))
            await asyncio.gather(*(self._terminate(c) for c in self._children if c not in callers))
            if self._pg is not None:
                if self._pg_start is not None:
                    with contextlib.suppress(Exception):
                        await self._pg_start
                try:
                    await asyncio.to_thread(self._pg.stop)
                except Exception as err:
                    self.exit_code = 1
                    self.log("error", "embedded PostgreSQL did not stop", error=str(err))
                else:
                    self.log("info", "embedded PostgreSQL stopped")
            self.log("info", "stopped", exit_code=self.exit_code)
        finally:
            if self._direct_fd is not None and self._direct_fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(self._direct_fd)
                self._direct_fd = None
            self._shutdown_done.set_result(None)

    # -- start-up ----------------------------------------------------------------------

    async def _start(self) -> Ready:
        from servers.runtime.migrations import migrate_all

        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database_url = settings.database_url
        embedded = not database_url
        if embedded:
            self._pg = embedded_postgres(settings)
            # Shielded: a stop request must not leave a server starting behind our back
            # (shutdown() waits for this before it stops the server).
            self._pg_start = asyncio.ensure_future(asyncio.to_thread(self._pg.start))
            database_url = await asyncio.shield(self._pg_start)
            self.log("info", "embedded PostgreSQL ready", pgdata=str(self._pg.pgdata))
        settings = self.settings = dataclasses.replace(settings, database_url=database_url)

        await migrate_all(settings, database_url)
        self.log("info", "database migrated")
        seed, created = await ensure_seed(database_url, settings.data_dir / "seed.json")
        self.log(
            "info",
            "test merchant seeded" if created else "test merchant reused",
            merchant_id=seed.merchant_id,
        )

        # Before Envoy's configuration: with the zone in its own process, Envoy routes the
        # token service there.
        settings, vault = self._split_zone(settings)
        descriptor = envoy_config.descriptor_path()
        config = envoy_config.write(settings, descriptor)

        redis_child: _Child | None = None
        if not settings.redis_url:  # one Redis for every process: servers/runtime/embedded_redis.py
            socket_file = embedded_redis.socket_path(settings.data_dir)
            self._redis_socket = socket_file
            redis_child = _Child("redis", embedded_redis.command(socket_file), REDIS_GRACE)
            settings = self.settings = dataclasses.replace(
                settings, redis_url=embedded_redis.url(socket_file)
            )

        acquirer: _Child | None = None
        if not settings.acquirer_target:
            acquirer = _Child(
                "acquirer",
                [
                    sys.executable,
                    "-m",
                    "servers.cli",
                    "serve",
                    "--role",
                    "acquirer",
                    "--listen",
                    f"127.0.0.1:{settings.acquirer_port}",
                ],
                ACQUIRER_GRACE,
            )
            token = settings.acquirer_service_token.reveal() or secrets.token_urlsafe(32)
            settings = self.settings = dataclasses.replace(
                settings,
                acquirer_target=f"127.0.0.1:{settings.acquirer_port}",
                acquirer_service_token=Secret(token),
            )
        psp: _Child | None = None
        if settings.psp_port and not (settings.orbit_url or settings.kora_url):
            listen = f"127.0.0.1:{settings.psp_port}"
            psp = _role_child("psp", "psp", listen, PSP_GRACE)
            settings = self.settings = dataclasses.replace(
                settings,
                orbit_url=f"http://{listen}",
                kora_url=f"http://{listen}{KORA_PREFIX}",
                wallet_url=settings.wallet_url or f"http://{listen}{WALLET_PREFIX}",
                netbanking_url=settings.netbanking_url or f"http://{listen}{NETBANKING_PREFIX}",
            )
        self._env = self._child_env(settings)
        # Metrics ports: API process i at base + i, then the first worker, the first web
        # process and the stripe process, then the other workers and web processes.
        base = settings.metrics_base_port
        n = settings.api_processes
        extra = iter(range(n + 3, n + 3 + settings.worker_processes + settings.web_processes))

        def metrics_port(k: int) -> int:
            return base + k if base else 0

        def replicas(
            role: str, endpoints: list[tuple[str, int]], grace: float, first_metrics: int
        ) -> list[_Child]:
            """worker, worker-1, ...: the first keeps the name and the metrics port of a
            topology with one; the others take the next metrics ports in turn."""
            children = []
            for i, (host, port) in enumerate(endpoints):
                name, metrics = (role, first_metrics) if i == 0 else (f"{role}-{i}", next(extra))
                children.append(
                    _role_child(name, role, f"{host}:{port}", grace, metrics_port(metrics))
                )
            return children

        apis = [
            _role_child(f"api-{i}", "api", f"{host}:{port}", API_GRACE, metrics_port(i))
            for i, (host, port) in enumerate(envoy_config.api_endpoints(settings))
        ]
        workers = replicas("worker", envoy_config.worker_endpoints(settings), WORKER_GRACE, n)
        # None when web_port is 0: the API processes serve the pages.
        web = replicas("web", envoy_config.web_processes(settings), WEB_GRACE, n + 1)
        if settings.stripe_port:  # Stripe's wire format over the API processes' gRPC
            web.append(
                _role_child(
                    "stripe",
                    "stripe",
                    f"127.0.0.1:{settings.stripe_port}",
                    WEB_GRACE,
                    metrics_port(n + 2),
                )
            )
        demo: list[_Child] = []
        if settings.demo_port:  # a merchant's site: needs Envoy, started after it
            demo.append(_role_child("demo", "demo", f"127.0.0.1:{settings.demo_port}", WEB_GRACE))
        envoy = _Child(
            "envoy",
            envoy_config.envoy_command(config, log_level=self.envoy_log_level),
            ENVOY_GRACE,
        )
        infrastructure = [c for c in (redis_child, acquirer, psp, vault) if c is not None]
        self._children = [*infrastructure, *apis, *workers, *web, envoy, *demo]

        if redis_child is not None:
            await self._spawn(redis_child)
            await self._wait_ready(redis_child)
            self.log("info", "embedded Redis ready", socket=str(self._redis_socket))
        # The others call them from their first request on; the vault role calls the
        # acquirer and the PSPs (its connectors), so it comes after them.
        for external in (acquirer, psp, vault):
            if external is not None:
                await self._spawn(external)
                await self._wait_ready(external)
        for child in [*apis, *workers, *web]:
            await self._spawn(child)
        # Started together, they share the cores while they import and connect: each
        # gets READY_TIMEOUT for every core's worth of them.
        together = [*apis, *workers, *web]
        share = max(1.0, len(together) / (os.cpu_count() or 1))
        await asyncio.gather(*(self._wait_ready(c, READY_TIMEOUT * share) for c in together))
        await self._spawn(envoy)
        await self._wait_ready(envoy)
        for child in demo:
            await self._spawn(child)
            await self._wait_ready(child)

        self._supervisors = [asyncio.create_task(self._supervise(c)) for c in self._children]
        admin_url = f"http://127.0.0.1:{settings.envoy_admin_port}"
        metrics_urls = (
            *((c.name, c.metrics_url) for c in self._children if c.metrics_url),
            ("envoy", f"{admin_url}/stats/prometheus"),
        )
        ready = Ready(
            rest_url=settings.rest_url,
            grpc_target=f"127.0.0.1:{settings.grpc_port}",
            admin_url=f"http://127.0.0.1:{settings.envoy_admin_port}",
            database_url=database_url,
            embedded_database=embedded,
            seed=seed,
            data_dir=settings.data_dir,
            acquirer_target=settings.acquirer_target,
            vault_target=settings.vault_target,
            orbit_url=settings.orbit_url,
            kora_url=settings.kora_url,
            wallet_url=settings.wallet_url,
            netbanking_url=settings.netbanking_url,
            demo_url=f"http://127.0.0.1:{settings.demo_port}" if demo else "",
            metrics_urls=metrics_urls,
            stripe_url=(
                f"http://127.0.0.1:{settings.http_port}{envoy_config.STRIPE_PREFIX}".rstrip("/")
                if settings.stripe_port
                else ""
            ),
        )
        self.log(
            "info",
            "ready",
            rest=ready.rest_url,
            grpc=ready.grpc_target,
            admin=ready.admin_url,
            acquirer=ready.acquirer_target,
            vault=ready.vault_target,
            pids=self.pids,
        )
        return ready

    def _split_zone(self, settings: Settings) -> tuple[Settings, _Child | None]:
        """With vault_processes: the vault role (the cardholder-data zone) as a child of its
        own, and the settings that point every other child at it."""
        if not settings.vault_processes or settings.vault_target:
            return settings, None
        if settings.vault_processes != 1:
            raise StartupError(
                "PAYGATE_VAULT_PROCESSES must be 0 or 1: several vault roles need a balancer "
                "in front of them (PAYGATE_VAULT_TARGET)"
            )
        vault = _role_child("vault", "vault", f"127.0.0.1:{settings.vault_port}", VAULT_GRACE)
        # The vault role is the vault: it hosts the zone rather than calling one.
        vault.env["PAYGATE_VAULT_TARGET"] = ""
        tokens = f"127.0.0.1:{settings.vault_tokens_port}" if settings.vault_tokens_port else ""
        vault.env["PAYGATE_VAULT_PUBLIC_LISTEN"] = tokens
        token = settings.vault_service_token.reveal() or secrets.token_urlsafe(32)
        settings = self.settings = dataclasses.replace(
            settings,
            vault_target=f"127.0.0.1:{settings.vault_port}",
            vault_service_token=Secret(token),
            envoy_vault_upstream=tokens,
        )
        return settings, vault

    def _child_env(self, settings: Settings) -> dict[str, str]:
        env = dict(os.environ)
        env.update(settings.to_env())
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _log_fd(self) -> int | None:
        """A descriptor of the launcher's output for its Python children, which write
        their own log lines there (servers/runtime/logging_setup.py, DirectLines): a
        line per request is then no work of the launcher's. Duplicated once, above the
        standard three, so that it keeps its number in a child whose stdout is a pipe."""
        if self._direct_fd is None:
            fd = self.log.fileno()
            self._direct_fd = -1 if fd is None else os.dup(fd)
        return self._direct_fd if self._direct_fd >= 0 else None

    async def _spawn(self, child: _Child) -> None:
        env = {**self._env, **child.env}
        pass_fds: tuple[int, ...] = ()
        log_fd = self._log_fd() if child.argv[0] == sys.executable else None
        if log_fd is not None:
            env.update({LOG_FD_ENV: str(log_fd), LOG_PROC_ENV: child.name})
            pass_fds = (log_fd,)
        process = await asyncio.create_subprocess_exec(
            *_parent_death_prefix(),
            *child.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            pass_fds=pass_fds,
            process_group=0,
            limit=LINE_LIMIT,
        )
        child.process = process
        child.started_at = time.monotonic()
        child.pump = asyncio.create_task(self._pump(child, process))
        self.log("info", "started", child=child.name, pid=process.pid)

    async def _pump(self, child: _Child, process: asyncio.subprocess.Process) -> None:
        stream = process.stdout
        assert stream is not None
        relay = Relay(self.log, child.name)
        while True:
            try:
                if relay.text:
                    chunk = await asyncio.wait_for(stream.read(LINE_LIMIT), TEXT_BURST)
                else:
                    chunk = await stream.read(LINE_LIMIT)
            except TimeoutError:
                relay.end_burst()
                continue
            relay.feed(chunk)
            if not chunk:
                break

    async def _probe(self, child: _Child) -> bool:
        settings = self.settings
        if child.name == "redis":
            return await embedded_redis.ping(self._redis_socket)
        if child.name == "envoy":
            return await envoy_ready(
                f"http://127.0.0.1:{settings.envoy_admin_port}",
                f"127.0.0.1:{settings.grpc_port}",
                ("127.0.0.1", settings.http_port),
                tls=settings.tls,
            )
        listen = child.argv[child.argv.index("--listen") + 1]
        if child.name in ("demo", "stripe", "psp"):  # plain HTTP, no gRPC health
            host, _, port = listen.rpartition(":")
            return await asyncio.to_thread(tcp_open, host, int(port))
        return await asyncio.to_thread(grpc_health, listen)

    async def _wait_ready(self, child: _Child, within: float | None = None) -> None:
        # Read when called, not bound at definition: a test's longer budget for a loaded
        # machine (tests/e2e/conftest.py) reaches restarts and the external roles too.
        within = READY_TIMEOUT if within is None else within
        deadline = time.monotonic() + within
        while True:
            process = child.process
            assert process is not None
            if process.returncode is not None:
                if child.pump is not None:
                    await child.pump
                raise StartupError(f"{child.name} exited with code {process.returncode}")
            if await self._probe(child):
                self.log("info", "ready", child=child.name, pid=process.pid)
                return
            if time.monotonic() > deadline:
                raise StartupError(f"{child.name} not ready after {within:.0f} s")
            await asyncio.sleep(0.1)

    # -- supervision and shutdown ---------------------------------------------------------

    async def _supervise(self, child: _Child) -> None:
        while True:
            process = child.process
            assert process is not None
            code = await process.wait()
            if child.pump is not None:
                await child.pump
            if self._stopping:
                return
            now = time.monotonic()
            child.crashes.append(now)
            while child.crashes and child.crashes[0] < now - CRASH_WINDOW:
                child.crashes.popleft()
            self.log(
                "error",
                "exited unexpectedly",
                child=child.name,
                pid=process.pid,
                exit_code=code,
                crashes_in_window=len(child.crashes),
            )
            if len(child.crashes) > MAX_CRASHES:
                self.log(
                    "error",
                    "crash loop: giving up",
                    child=child.name,
                    crashes=len(child.crashes),
                    window_seconds=CRASH_WINDOW,
                )
                self.exit_code = 1
                self._stop.set()
                return
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (len(child.crashes) - 1))
            self.log("warning", "restarting", child=child.name, in_seconds=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
                return  # a stop was requested meanwhile
            await self._spawn(child)
            try:
                await self._wait_ready(child)
            except StartupError as err:
                self.log("error", "restart failed", child=child.name, error=str(err))
                if child.running and child.process is not None:
                    with contextlib.suppress(ProcessLookupError):
                        child.process.kill()

    async def _terminate(self, child: _Child) -> None:
        process = child.process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL if self._force else signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), child.grace)
            except TimeoutError:
                self.log(
                    "warning",
                    "grace period over: killing",
                    child=child.name,
                    pid=process.pid,
                    grace_seconds=child.grace,
                )
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            self.log(
                "info", "exited", child=child.name, pid=process.pid, exit_code=process.returncode
            )
        if child.pump is not None:
            with contextlib.suppress(Exception):
                await child.pump


# --- `paygate up` ------------------------------------------------------------------------


def banner(ready: Ready) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(ready.database_url)
    database = url.render_as_string(hide_password=True) if url.password else ready.database_url
    where = "embedded, data in " + str(ready.data_dir / "pg") if ready.embedded_database else ""
    seed = ready.seed
    curl = (
        f"curl {ready.rest_url}/v1/payment_intents"
        f" -H 'Authorization: Bearer {seed.secret_key}'"
        ' -H "Idempotency-Key: $(date +%s%N)"'
        " -H 'Content-Type: application/json'"
        ' -d \'{"amount": 1000, "currency": "usd"}\''
    )
    lines = [
        "",
        "paygate is up",
        f"  REST/JSON        {ready.rest_url}",
        f"  gRPC             {ready.grpc_target}  "
        f"({'TLS' if ready.rest_url.startswith('https') else 'h2c'}, reflection and "
        "grpc.health.v1)",
        f"  Envoy admin      {ready.admin_url}  (loopback only)",
        f"  acquirer         {ready.acquirer_target}  (simulated card network and UPI switch)",
        *(
            [f"  vault            {ready.vault_target}  (the cardholder-data zone, own process)"]
            if ready.vault_target
            else []
        ),
        *(
            [f"  PSPs             {ready.orbit_url} (Orbit), {ready.kora_url} (Kora)"]
            if ready.orbit_url and ready.kora_url
            else []
        ),
        f"  database         {database}" + (f"  ({where})" if where else ""),
        f"  merchant         {seed.merchant_id}  ({seed.merchant_name})",
        f"  secret key       {seed.secret_key}",
        f"  publishable key  {seed.publishable_key}",
        f"  hosted checkout  {ready.rest_url}/checkout/pi_...?client_secret=...  (an intent's"
        " checkout_url)",
        f"  dashboard        {ready.rest_url}/dashboard  (sign up, then run the business)",
        *(
            [f"  Stripe API       {ready.stripe_url}  (api_base for the official Stripe SDKs)"]
            if ready.stripe_url
            else []
        ),
        *(
            [f"  checkout demo    {ready.demo_url}  (a shop paying with checkout.js)"]
            if ready.demo_url
            else []
        ),
        *(
            f"  {'metrics' if i == 0 else '':<17}{url}  ({name})"
            for i, (name, url) in enumerate(ready.metrics_urls)
        ),
        "",
        "Try it:",
        f"  {curl}",
        "",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


async def _up(settings: Settings, out: TextIO) -> int:
    launcher = Launcher(settings, out=out)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, launcher.request_stop)
    try:
        start = asyncio.create_task(launcher.start())
        try:
            ready = await start
        except asyncio.CancelledError:
            return launcher.exit_code  # stopped during start-up
        except Exception:
            return 1
        launcher.log.write_line(banner(ready))
        return await launcher.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def up(settings: Settings, out: TextIO | None = None) -> int:
    """`paygate up` in the foreground; returns the process exit code."""
    return asyncio.run(_up(settings, out if out is not None else sys.stdout))
