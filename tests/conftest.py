"""Session fixtures shared by every test tier: PostgreSQL, a migrated database, Redis.

PostgreSQL: the server on 127.0.0.1:5432 (user postgres, trust auth) when it answers,
else a private one started from the pgserver wheel under /tmp and stopped at the end.
Redis: 127.0.0.1:6379 when it answers, else a redis-server on a free port.
PAYGATE_TEST_FORCE_EMBEDDED=1 skips both probes (to exercise the fallbacks);
PAYGATE_TEST_POSTGRES_URL / PAYGATE_TEST_REDIS_URL point the tests at other servers.

Each session creates its own database (paygate_test_<random>), migrates it and drops it.
Tests stay independent without cleaning tables: each makes its own merchant (see
`merchant_id`), and every query is scoped by merchant. payment_events refuses TRUNCATE
by design anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from hypothesis import settings
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.observability import tracing
from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from servers.runtime.embedded_postgres import EmbeddedPostgres
from tests.databases import fresh_database
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory

# Tests never assert on wall time: Hypothesis' per-example deadline would, and fails
# when the shared machine is busy.
settings.register_profile("paygate", deadline=None)
settings.load_profile("paygate")

FORCE_EMBEDDED = os.environ.get("PAYGATE_TEST_FORCE_EMBEDDED", "") not in ("", "0")
LOCAL_POSTGRES_ADDRESS = ("127.0.0.1", 5432)
LOCAL_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = ("127.0.0.1", 6379)
# Folders of the servers a session starts, each with the pid of the session that owns it.
_EMBEDDED_PG_PREFIX = "paygate-test-pg-"
_REDIS_PREFIX = "paygate-test-redis-"
_OWNER_FILE = "owner.pid"
_SERVER_FILE = "server.pid"


# --- PostgreSQL ------------------------------------------------------------------------


async def _postgres_answers(host: str, port: int) -> bool:
    try:
        connection = await asyncpg.connect(
            host=host, port=port, user="postgres", database="postgres", timeout=3
        )
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim_folder(prefix: str) -> Path:
    """A new folder under /tmp marked as this process's, for _orphaned_folders()."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    (folder / _OWNER_FILE).write_text(str(os.getpid()))
    return folder


def _orphaned_folders(prefix: str) -> Iterator[Path]:
    """Folders of sessions that were killed before their finalizers ran."""
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            owner = int((folder / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # being set up right now, or not ours
        if not _pid_alive(owner):
            yield folder


def _reap_orphaned_embedded_servers() -> None:
    for folder in _orphaned_folders(_EMBEDDED_PG_PREFIX):
        with contextlib.suppress(Exception):
            EmbeddedPostgres(folder / "data").stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
async def postgres_admin_url() -> AsyncIterator[str]:
    """An asyncpg URL of the `postgres` database on a server the tests may create
    databases on."""
    configured = os.environ.get("PAYGATE_TEST_POSTGRES_URL", "")
    if configured:
        yield configured
        return
    if not FORCE_EMBEDDED and await _postgres_answers(*LOCAL_POSTGRES_ADDRESS):
        yield LOCAL_POSTGRES
        return

    await asyncio.to_thread(_reap_orphaned_embedded_servers)
    # Under /tmp: pgserver opens every parent folder to its system user (o+rx).
    root = _claim_folder(_EMBEDDED_PG_PREFIX)
    # The app's own launcher of the wheel's server; its `paygate` database serves as the
    # admin database the tests create theirs from.
    server = EmbeddedPostgres(root / "data")
    try:
        yield await asyncio.to_thread(server.start)
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
async def database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this session; dropped at the end."""
    async with fresh_database(postgres_admin_url, "paygate_test") as url:
        yield url


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def uow_factory(engine: AsyncEngine) -> SqlUnitOfWorkFactory:
    """PostgreSQL units of work on the session's database."""
    return SqlUnitOfWorkFactory(engine)


@pytest.fixture
def memory_uow_factory() -> MemoryUnitOfWorkFactory:
    """In-memory units of work over a store of this test's own."""
    return MemoryUnitOfWorkFactory()


@pytest.fixture(scope="session")
def ids() -> RandomIds:
    return RandomIds()


# --- Redis -----------------------------------------------------------------------------


def _redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.fail("no Redis answers on 127.0.0.1:6379 and redis-server is not installed")
    subprocess.run(["apt-get", "install", "-y", "-q", "redis-server"], check=True)
    return shutil.which("redis-server") or "/usr/bin/redis-server"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL; keys written by tests must be unique per test (the server is shared)."""
    configured = os.environ.get("PAYGATE_TEST_REDIS_URL", "")
    if configured:
        yield configured
        return
    if not FORCE_EMBEDDED and _redis_answers(*LOCAL_REDIS):
        yield f"redis://{LOCAL_REDIS[0]}:{LOCAL_REDIS[1]}/15"
        return

    _reap_orphaned_redis_servers()
    port = _free_port()
    workdir = _claim_folder(_REDIS_PREFIX)
    command = [_redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(workdir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (workdir / _SERVER_FILE).write_text(str(process.pid))
    try:
        deadline = time.monotonic() + 10
        while not _redis_answers("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _reap_orphaned_redis_servers() -> None:
    for folder in _orphaned_folders(_REDIS_PREFIX):
        with contextlib.suppress(OSError, ValueError):
            pid = int((folder / _SERVER_FILE).read_text())
            if b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def span_exporter() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test, every finished span in memory; off again after it."""
    spans = InMemorySpanExporter()
    tracing.configure("api", exporter=spans)
    try:
        yield spans
    finally:
        tracing.reset()
