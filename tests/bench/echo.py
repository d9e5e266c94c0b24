"""R_grpc and R_envoy: the ceiling of a bare grpc.aio unary call on this machine.

R_grpc: a server with one generic unary method that answers its request bytes, in 1 and
then 2 processes sharing one port (SO_REUSEPORT, as grpc sets it on Linux), driven by
h2load (nghttp2-client: compiled, cheap) with a fixed gRPC frame.
R_envoy: the same method (echo.proto, compiled here) served by 2 processes behind Envoy
with the gateway's own configuration (servers/runtime/envoy_config.py), driven over REST
by wrk: GET /v1/bench_echo/{id}, which the transcoder turns into the gRPC call.
What paygate adds on top (authentication, the database, the servicer) is the difference
to the GET scenario.

    python -m tests.bench.echo serve --port P      one server process (the harness starts it)
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from tests.bench import measure
from tests.e2e.conftest import free_port, free_port_range

METHOD = "/paygate.v1.BenchEcho/Echo"
PROTO = Path(__file__).resolve().with_name("echo.proto")
REPO = Path(__file__).resolve().parents[2]
# A payload the size of a GetPaymentIntent request.
PAYLOAD = b"\n\x1epi_0193a1b2c3d4e5f6a7b8c9d0e1f2"


def _identity(data: bytes) -> bytes:
    return data


async def _serve(port: int) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler(
        "paygate.v1.BenchEcho",
        {
            "Echo": grpc.unary_unary_rpc_method_handler(
                echo, request_deserializer=_identity, response_serializer=_identity
            )
        },
    )
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def _wait_open(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"echo server on {port} did not start")


def h2load(port: int, duration: float, connections: int = 32, streams: int = 1) -> dict[str, Any]:
    """Closed-loop h2load against the echo method; requests/s and latency."""
    binary = shutil.which("h2load")
    if binary is None:
        raise RuntimeError("h2load is missing: apt-get install -y nghttp2-client")
    frame = b"\x00" + len(PAYLOAD).to_bytes(4, "big") + PAYLOAD
    with tempfile.NamedTemporaryFile(suffix=".bin") as body:
        body.write(frame)
        body.flush()
        argv = [
            binary,
            "-D",
            str(max(1, round(duration))),
            "-c",
            str(connections),
            "-m",
            str(streams),
            "-t",
            "1",
            "-d",
            body.name,
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            f"http://127.0.0.1:{port}{METHOD}",
        ]
        run = measure.run_to_end(argv)
        out = run.out
    rps = re.search(r"finished in [^,]+, ([0-9.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    if rps is None or done is None:
        raise RuntimeError(f"h2load printed no result: {out[-1500:]}")
    return {
        "tps": round(float(rps.group(1)), 1),
        "succeeded": int(done.group(2)),
        "mean_latency": mean.group(1) if mean else None,
        "loadgen_cpu_s": round(run.cpu_s, 3),
    }


def references(duration: float) -> dict[str, Any]:
    """grpc_echo_1 and grpc_echo_2: the echo served by 1 and by 2 processes."""
    refs: dict[str, Any] = {}
    for count in (1, 2):
        port = free_port()
        servers = _start_servers([port] * count)
        try:
            _wait_open(port)
            time.sleep(0.5)  # the second process binds a moment later
            refs[f"grpc_echo_{count}"] = h2load(port, duration)
        finally:
            for s in servers:
                s.terminate()
            for s in servers:
                s.wait(10)
    refs["envoy_echo"] = envoy_reference(duration)
    return refs


def _start_servers(ports: list[int]) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tests.bench.echo", "serve", "--port", str(port)], cwd=REPO
        )
        for port in ports
    ]


def _descriptor(out: Path) -> Path:
    import grpc_tools
    from grpc_tools import protoc

    path = out / "echo.binpb"
    code = protoc.main(
        [
            "protoc",
            f"-I{PROTO.parent}",
            f"-I{REPO / 'proto' / 'third_party'}",
            f"-I{Path(grpc_tools.__file__).parent / '_proto'}",
            "--include_imports",
            f"--descriptor_set_out={path}",
            str(PROTO),
        ]
    )
    if code != 0:
        raise RuntimeError("protoc could not compile echo.proto")
    return path


def envoy_reference(duration: float, connections: int = 32) -> dict[str, Any]:
    """R_envoy: REST through Envoy's transcoder to 2 echo processes, closed loop."""
    from servers.runtime import envoy_config
    from servers.runtime.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        ports = [free_port() for _ in range(3)]
        base = free_port_range(2, avoid=set(ports))
        settings = Settings(
            data_dir=Path(tmp),
            http_port=ports[0],
            grpc_port=ports[1],
            envoy_admin_port=ports[2],
            api_processes=2,
            api_base_port=base,
            web_port=0,
        )
        config = envoy_config.write(settings, _descriptor(Path(tmp)), Path(tmp) / "envoy.yaml")
        servers = _start_servers([base, base + 1])
        envoy = subprocess.Popen(
            list(envoy_config.envoy_command(config)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for port in (base, base + 1, ports[0]):
                _wait_open(port)
            time.sleep(1.0)  # Envoy's first health checks of the two upstreams
            url = f"http://127.0.0.1:{ports[0]}/v1/bench_echo/pi_0193a1b2c3d4e5f6a7b8c9d0e1f2"
            wrk = shutil.which("wrk")
            if wrk is None:
                raise RuntimeError("wrk is missing: apt-get install -y wrk")
            # The edge refuses a REST call without a credential before any upstream (401);
            # the echo ignores it, as a GET's bearer key costs Envoy the same either way.
            auth = "Authorization: Bearer sk_test_bench_echo"
            argv = [wrk, "-t2", f"-c{connections}", f"-d{max(1, round(duration))}s", "-H", auth]
            argv.append(url)
            run = measure.run_to_end(argv)
            out = run.out
        finally:
            envoy.terminate()
            for s in servers:
                s.terminate()
            for p in (envoy, *servers):
                p.wait(10)
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if rps is None:
        raise RuntimeError(f"wrk printed no result: {out[-1500:]}")
    refused = int(non2xx.group(1)) if non2xx else 0
    if refused:  # the echo was not reached: no reference, rather than a wrong one
        return {"tps": None, "non_2xx": refused, "error": "Envoy answered non-2xx"}
    return {
        "tps": round(float(rps.group(1)), 1),
        "non_2xx": 0,
        "connections": connections,
        "loadgen_cpu_s": round(run.cpu_s, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["serve", "measure"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--duration", type=float, default=5.0)
    args = p.parse_args()
    if args.command == "serve":
        asyncio.run(_serve(args.port))
    else:
        print(references(args.duration))


if __name__ == "__main__":
    main()
