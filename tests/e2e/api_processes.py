"""API processes of their own (`paygate serve --role api`), without Envoy, for tests that
talk to each process directly: what two processes share through Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.e2e.conftest import free_port


@contextlib.contextmanager
def api_processes(
    database_url: str, redis_url: str, data_dir: Path, count: int = 2
) -> Iterator[list[str]]:
    """Starts `count` API processes on `database_url` and `redis_url`; their addresses.
    Logs go to data_dir/api<i>.log. Stopped (SIGTERM, then SIGKILL) at the end."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PAYGATE_DATA_DIR": str(data_dir),
        "PAYGATE_LOG_LEVEL": "WARNING",
    }
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(count)]
    processes = []
    for i, address in enumerate(addresses):
        with (data_dir / f"api{i}.log").open("w") as log:  # the child keeps its own copy
            command = [sys.executable, "-m", "servers.cli", "serve", "--role", "api"]
            command += ["--listen", address]
            processes.append(
                subprocess.Popen(
                    command, env=env, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT
                )
            )
    try:
        yield addresses
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_until_serving(
    channel: grpc.aio.Channel,
    *,
    within: float = 180.0,
    exited: Callable[[], str | None] = lambda: None,
    what: str = "the API process",
) -> None:
    """Until the health service behind `channel` says SERVING; `exited()` says why the
    process is gone (its log's tail) when it died first. A start-up budget, not a timed
    assertion: a loaded machine starts Python slowly."""
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        died = exited()
        if died is not None:
            raise AssertionError(died)
        try:
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.aio.AioRpcError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} did not start")
