"""Roles as processes of their own (split mode), for tests that talk to each one over gRPC
on loopback: each writes to a log file of its own, is waited for through the gRPC health
service, and is killed at the end if it is still running.

    @pytest.fixture
    def roles(tmp_path):
        with role_processes() as started:
            started.append(serve_role("acquirer", {...}, tmp_path))
            yield started
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from tests.e2e.api_processes import wait_until_serving
from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RoleProcess:
    name: str
    process: subprocess.Popen[bytes]
    target: str
    log: Path


def spawn(
    name: str, argv: Sequence[str], target: str, env: Mapping[str, str], log: Path
) -> RoleProcess:
    """Starts `argv` (which listens on `target`) from the repository's root with `env` over
    this process's environment; its output goes to `log`."""
    with log.open("wb") as out:  # the child keeps its own copy
        process = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return RoleProcess(name, process, target, log)


def serve_role(role: str, env: Mapping[str, str], tmp_path: Path) -> RoleProcess:
    """`paygate serve --role <role>` on a free loopback port, with a data dir and a log
    (<tmp_path>/<role>.log) of its own."""
    target = f"127.0.0.1:{free_port()}"
    argv = [sys.executable, "-m", "servers.cli", "serve", "--role", role, "--listen", target]
    env = {**env, "PAYGATE_DATA_DIR": str(tmp_path / role)}
    return spawn(role, argv, target, env, tmp_path / f"{role}.log")


@contextlib.contextmanager
def role_processes() -> Iterator[list[RoleProcess]]:
    """A list to put started roles in; those still running at the end are killed."""
    started: list[RoleProcess] = []
    try:
        yield started
    finally:
        for role in started:
            if role.process.poll() is None:
                role.process.kill()
                role.process.wait(timeout=10)


async def wait_serving(role: RoleProcess, within: float = 180.0) -> None:
    """Until the role's health service says SERVING; its log's tail if it exits first."""

    def exited() -> str | None:
        return None if role.process.poll() is None else role.log.read_text()[-3000:]

    async with grpc.aio.insecure_channel(role.target) as channel:
        await wait_until_serving(
            channel, within=within, exited=exited, what=f"{role.name} on {role.target}"
        )
