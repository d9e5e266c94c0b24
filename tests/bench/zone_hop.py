"""`python -m tests.bench.zone_hop [--calls N]`: the CPU of one API -> zone call, alone.

The split topology's extra hop without the rest of the gateway: the vault role's own
server (servers/roles/vault/server.py start_server: its interceptors, the zone's servicer,
the wire conversions, a log line per call) in a process of its own, with a connector that
answers at once, called one request at a time by the API's client (GrpcAcquirer, with the
service credential and a request id) from this process. Then the same number of calls of
a bare grpc.aio unary method (no interceptor, no conversion: bytes in, bytes out) between
the same two kinds of process, which is what grpcio costs by itself. Prints the user +
system CPU milliseconds per call of the client and of the server, for both
(docs/performance.md, "The hop, alone").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import grpc
import uvloop
from paygate.internal.v1 import acquirer_pb2 as pb

TOKEN = "zone-hop-bench-service-token-0123456789"
WARM = 200
BARE = "/bench.Bare/Echo"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def serve_zone() -> None:
    from adapters.system import SystemClock
    from core.payments.acquirer import (
        AuthorizationOutcome,
        AuthorizationRequest,
        AuthorizationResult,
    )
    from servers.roles.vault.server import start_server
    from servers.runtime import logging_setup
    from tests.fakes import in_memory_vault

    logging_setup.configure("INFO", background=True)

    class Approving:
        async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
            return AuthorizationResult(
                request.attempt_reference,
                AuthorizationOutcome.APPROVED,
                request.amount,
                acquirer_reference="acq_1",
                authorization_code="123456",
            )

    server = await start_server(
        in_memory_vault(SystemClock()),
        "127.0.0.1:0",
        tokens=[TOKEN],
        zone={pb.ACQUIRER_CARD_NETWORK: Approving()},  # type: ignore[dict-item]
    )
    print(server.port, flush=True)
    await server.server.wait_for_termination()


async def serve_bare() -> None:
    async def echo(request: bytes, context: Any) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler(
        "bench.Bare", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


async def call_zone(port: int, calls: int, server_pid: int) -> dict[str, float]:
    from adapters.acquirers.grpc_client import GrpcAcquirer
    from core.payments.acquirer import AuthorizationRequest, CardReference
    from core.shared.money import Money

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        client = GrpcAcquirer.card_network(
            channel, service_token=TOKEN, request_id=lambda: "req_01jzonehopbench0000000000"
        )
        request = AuthorizationRequest(
            "pa_01jzonehopbench000000000000",
            "acct_01jzonehopbench0000000000",
            Money(2100, "USD"),
            CardReference("tok_01jzonehopbench00000000000", False, "payment_intent pi_1"),
            capture_reference="cap_01jzonehopbench0000000000",
        )

        async def one() -> None:
            await client.authorize(request)

        return await _measure(one, calls, server_pid)


async def call_bare(port: int, calls: int, server_pid: int) -> dict[str, float]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        method = channel.unary_unary(BARE)
        body = b"x" * 160

        async def one() -> None:
            await method(body, timeout=10)

        return await _measure(one, calls, server_pid)


async def _measure(one: Any, calls: int, server_pid: int) -> dict[str, float]:
    for _ in range(WARM):
        await one()
    client, server = cpu_seconds(os.getpid()), cpu_seconds(server_pid)
    for _ in range(calls):
        await one()
    return {
        "client_ms": round((cpu_seconds(os.getpid()) - client) / calls * 1e3, 3),
        "server_ms": round((cpu_seconds(server_pid) - server) / calls * 1e3, 3),
    }


def run(kind: str, calls: int, logs: Path) -> dict[str, float]:
    with (logs / f"{kind}.log").open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.zone_hop", "--serve", kind],
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
            env={**os.environ, "PAYGATE_LOG_FD": str(out.fileno()), "PAYGATE_LOG_PROC": kind},
            pass_fds=(out.fileno(),),
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            call = call_zone if kind == "zone" else call_bare
            return uvloop.run(call(port, calls, server.pid))
        finally:
            server.terminate()
            server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.zone_hop")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--serve", choices=("zone", "bare"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        uvloop.run(serve_zone() if args.serve == "zone" else serve_bare())
        return
    logs = Path(tempfile.mkdtemp(prefix="paygate-zone-hop-"))
    result: dict[str, Any] = {"calls": args.calls}
    for kind in ("zone", "bare"):
        result[kind] = run(kind, args.calls, logs)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
