"""Envoy's CPU per REST request, with one piece of its configuration changed at a time.

Envoy runs the gateway's own configuration (servers/runtime/envoy_config.py, the real
descriptor set) in front of two stand-in API processes: a grpc.aio server that answers
every public method with a fixed, fully populated response message of the method's type
(and SERVING to health checks), so that Envoy does everything it does in production (routes,
Lua, CORS, buffer, list guard, transcoding both ways, access log) while the upstream costs
little. wrk drives it over HTTP/1.1 keep-alive at a fixed rate (paced with wrk's delay(),
as the benchmark's open-loop runs are); only Envoy's CPU (utime + stime of
/proc/<pid>/stat) is read, over the requests wrk counts.

    python -m tests.bench.envoy_cpu --variants base,no_lua,... --rounds 2
    python -m tests.bench.envoy_cpu upstream --port P      (one stand-in, started by the above)

Variants are edits of the rendered configuration (VARIANTS); each round runs them in
order and then in reverse (base, a, b, ..., b, a, base), so a drift of the shared machine's
load falls on both sides of every comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor

from tests.bench.echo import _wait_open
from tests.e2e.conftest import free_port, free_port_range

REPO = Path(__file__).resolve().parents[2]
TICK = os.sysconf("SC_CLK_TCK")

INTENT = "pi_0193a1b2c3d4e5f6a7b8c9d0e1f2"
TOKEN = "tok_0193a1b2c3d4e5f6a7b8c9d0e1f2"


# --- the stand-in API process ---------------------------------------------------------


def _filled(message: Any, depth: int = 0) -> Any:
    """Every singular scalar field set (strings of 24 characters, numbers, the first
    non-zero enum value), messages filled two levels deep: a response about the size
    of the API's own."""
    for field in message.DESCRIPTOR.fields:
        if field.is_repeated:
            continue
        if field.containing_oneof is not None and message.WhichOneof(field.containing_oneof.name):
            continue
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            setattr(message, field.name, f"{field.name[:10]}_0193a1b2c3d4e5f6")
        elif kind == FieldDescriptor.TYPE_BOOL:
            setattr(message, field.name, True)
        elif kind == FieldDescriptor.TYPE_ENUM:
            values = field.enum_type.values
            setattr(message, field.name, values[1].number if len(values) > 1 else 0)
        elif kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            setattr(message, field.name, 1.5)
        elif kind == FieldDescriptor.TYPE_BYTES:
            setattr(message, field.name, b"0193a1b2")
        elif kind == FieldDescriptor.TYPE_MESSAGE:
            if depth < 2 and not field.message_type.full_name.startswith("google.protobuf"):
                _filled(getattr(message, field.name), depth + 1)
        else:
            setattr(message, field.name, 1733500000)
    return message


def _responses(descriptor: Path) -> dict[str, bytes]:
    """gRPC path -> a filled response of that method, for every public method."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    out: dict[str, bytes] = {}
    for file in files.file:
        if file.package != "paygate.v1":
            continue
        for service in file.service:
            for method in service.method:
                output = pool.FindMessageTypeByName(method.output_type.lstrip("."))
                message = _filled(message_factory.GetMessageClass(output)())
                out[f"/paygate.v1.{service.name}/{method.name}"] = message.SerializeToString()
    return out


class _Answers(grpc.GenericRpcHandler):
    def __init__(self, responses: dict[str, bytes]) -> None:
        self.responses = {**responses, "/grpc.health.v1.Health/Check": b"\x08\x01"}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        answer = self.responses.get(details.method)  # type: ignore[attr-defined]
        if answer is None:
            return None

        async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return answer

        return grpc.unary_unary_rpc_method_handler(
            unary, request_deserializer=None, response_serializer=None
        )


async def _serve(port: int, descriptor: Path) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_Answers(_responses(descriptor)),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


# --- the variants -----------------------------------------------------------------------

Config = dict[str, Any]


def _rest(config: Config) -> Config:
    listener = next(x for x in config["static_resources"]["listeners"] if x["name"] == "rest")
    manager: Config = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return manager


def _without_filter(name: str) -> Callable[[Config], None]:
    def edit(config: Config) -> None:
        manager = _rest(config)
        manager["http_filters"] = [f for f in manager["http_filters"] if f["name"] != name]
        for route in manager["route_config"]["virtual_hosts"][0]["routes"]:
            route.get("typed_per_filter_config", {}).pop(name, None)
        manager["route_config"]["virtual_hosts"][0].get("typed_per_filter_config", {}).pop(
            name, None
        )

    return edit


def _no_access_log(config: Config) -> None:
    _rest(config)["access_log"] = []


def _print_defaults(config: Config) -> None:
    for f in _rest(config)["http_filters"]:
        if f["name"].endswith("grpc_json_transcoder"):
            f["typed_config"]["print_options"] = {"stream_sse_style_delimited": True}


def _no_request_id(config: Config) -> None:
    _rest(config)["generate_request_id"] = False


def _no_tracing_key(config: Config) -> None:
    _rest(config).pop("tracing", None)


def _no_stats(config: Config) -> None:
    config["stats_config"] = {"stats_matcher": {"reject_all": True}}


def _no_retry(config: Config) -> None:
    for route in _rest(config)["route_config"]["virtual_hosts"][0]["routes"]:
        route.get("route", {}).pop("retry_policy", None)


def _no_local_reply(config: Config) -> None:
    _rest(config).pop("local_reply_config", None)


def _no_client_address(config: Config) -> None:
    _rest(config)["route_config"]["virtual_hosts"][0].pop("request_headers_to_add", None)


def _h2_windows(config: Config) -> None:
    for cluster in config["static_resources"]["clusters"]:
        options = cluster.get("typed_extension_protocol_options", {})
        for value in options.values():
            value["explicit_http_config"]["http2_protocol_options"] = {
                "initial_stream_window_size": 16 << 20,
                "initial_connection_window_size": 16 << 20,
            }


def _no_health_checks(config: Config) -> None:
    for cluster in config["static_resources"]["clusters"]:
        cluster.pop("health_checks", None)


def _suppress_envoy_headers(config: Config) -> None:
    for f in _rest(config)["http_filters"]:
        if f["name"] == "envoy.filters.http.router":
            f["typed_config"]["suppress_envoy_headers"] = True


def _no_buffer(config: Config) -> None:
    _without_filter("envoy.filters.http.buffer")(config)


# name -> (edit of the configuration, extra Envoy arguments, extra request headers)
VARIANTS: dict[str, tuple[Callable[[Config], None] | None, list[str], dict[str, str]]] = {
    "base": (None, [], {}),
    "no_lua": (_without_filter("envoy.filters.http.lua"), [], {}),
    "no_list_guard": (_without_filter("paygate.list_guard"), [], {}),
    "no_access_log": (_no_access_log, [], {}),
    "no_cors": (_without_filter("envoy.filters.http.cors"), [], {}),
    "no_buffer": (_no_buffer, [], {}),
    "no_grpc_web": (_without_filter("envoy.filters.http.grpc_web"), [], {}),
    "print_defaults": (_print_defaults, [], {}),
    "no_request_id": (_no_request_id, [], {}),
    "no_tracing_key": (_no_tracing_key, [], {}),
    "no_stats": (_no_stats, [], {}),
    "no_retry": (_no_retry, [], {}),
    "no_local_reply": (_no_local_reply, [], {}),
    "no_client_address": (_no_client_address, [], {}),
    "h2_windows": (_h2_windows, [], {}),
    "no_health_checks": (_no_health_checks, [], {}),
    "suppress_envoy_headers": (_suppress_envoy_headers, [], {}),
    "concurrency_1": (None, ["--concurrency", "1"], {}),
    "concurrency_2": (None, ["--concurrency", "2"], {}),
    "connection_close": (None, [], {"Connection": "close"}),
}


# --- the load ---------------------------------------------------------------------------

_WRK_SCRIPT = r"""
local scenario = os.getenv("BENCH_SCENARIO")
local rate = tonumber(os.getenv("BENCH_RATE"))
local conns = tonumber(os.getenv("BENCH_CONNS"))
local extra = os.getenv("BENCH_HEADERS") or ""
local step = 0
local function headers(key, body)
  local h = {["Authorization"] = "Bearer " .. key}
  if body then h["Content-Type"] = "application/json" end
  for k, v in string.gmatch(extra, "([^=,]+)=([^,]+)") do h[k] = v end
  return h
end
local card = '{"card": {"number": "4242424242424242", "exp_month": 12, '
  .. '"exp_year": 2040, "cvc": "123"}}'
function delay() return 1000.0 * conns / rate end
function request()
  if scenario == "get" then
    return wrk.format("GET", "/v1/payment_intents/INTENT", headers("sk_test_bench", false))
  end
  step = step % 3 + 1
  if step == 1 then
    return wrk.format("POST", "/v1/tokens", headers("pk_test_bench", true), card)
  elseif step == 2 then
    return wrk.format("POST", "/v1/payment_intents", headers("sk_test_bench", true),
      '{"amount": 2500, "currency": "usd"}')
  end
  local h = headers("sk_test_bench", true)
  h["Idempotency-Key"] = "bench-" .. math.random(1, 1e9)
  return wrk.format("POST", "/v1/payment_intents/INTENT/confirm", h,
    '{"payment_method": "TOKEN"}')
end
""".replace("INTENT", INTENT).replace("TOKEN", TOKEN)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def drive(
    port: int, pid: int, scenario: str, rate: float, seconds: int, headers: dict[str, str]
) -> dict[str, Any]:
    """One wrk run; Envoy's CPU per request (ms) and wrk's counts."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is missing: apt-get install -y wrk")
    conns = 8
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT)
    env = {
        **os.environ,
        "BENCH_SCENARIO": scenario,
        "BENCH_RATE": str(rate),
        "BENCH_CONNS": str(conns),
        "BENCH_HEADERS": ",".join(f"{k}={v}" for k, v in headers.items()),
    }
    argv = [wrk, "-t1", f"-c{conns}", f"-d{seconds}s", "-s", script.name]
    argv.append(f"http://127.0.0.1:{port}")
    load = os.getloadavg()[0]
    before = _cpu_ticks(pid)
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    used = _cpu_ticks(pid) - before
    os.unlink(script.name)
    done = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if done is None:
        raise RuntimeError(f"wrk printed no result: {out[-1500:]}")
    requests = int(done.group(1))
    return {
        "requests": requests,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "ms_per_request": round(1000.0 * used / TICK / max(requests, 1), 4),
        "load": round(load, 2),
    }


# --- one configuration ------------------------------------------------------------------


def rendered(tmp: Path, http_port: int, admin_port: int, base: int) -> Config:
    from servers.runtime import envoy_config
    from servers.runtime.settings import Settings

    settings = Settings(
        data_dir=tmp,
        http_port=http_port,
        grpc_port=free_port(),
        envoy_admin_port=admin_port,
        api_processes=2,
        api_base_port=base,
        web_port=0,
    )
    text = envoy_config.render(settings, envoy_config.descriptor_path())
    config: Config = yaml.safe_load(text)
    return config


def _command(path: Path, flags: list[str]) -> list[str]:
    """Envoy's command as the launcher gives it, with the variant's worker count."""
    from servers.runtime import envoy_config

    workers = int(flags[1]) if flags[:1] == ["--concurrency"] else None
    return [*envoy_config.envoy_command(path, concurrency=workers), *flags[2 if workers else 0 :]]


def _variant(name: str, tmp: Path, base_config: Config) -> tuple[Path, list[str], dict[str, str]]:
    """The variant's configuration written to a file; its Envoy flags and its headers."""
    edit, flags, headers = VARIANTS[name]
    config = json.loads(json.dumps(base_config))
    if edit is not None:
        edit(config)
    path = tmp / f"envoy-{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, flags, headers


def run_variant(
    name: str, tmp: Path, base_config: Config, http_port: int, scenarios: list[str], args: Any
) -> dict[str, Any]:

    path, flags, headers = _variant(name, tmp, base_config)
    argv = [*_command(path, flags)]
    envoy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_open(http_port)
        time.sleep(1.5)  # the first health checks
        result: dict[str, Any] = {"variant": name}
        for scenario in scenarios:
            rate = args.get_rate if scenario == "get" else args.post_rate
            drive(http_port, envoy.pid, scenario, rate, 1, headers)  # warm-up
            result[scenario] = drive(http_port, envoy.pid, scenario, rate, args.seconds, headers)
        return result
    finally:
        envoy.terminate()
        _, err = envoy.communicate(timeout=10)
        if envoy.returncode not in (0, -15):
            print(err.decode()[-2000:], file=sys.stderr)


_CARD = '{"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}}'
# (method, path, key, body) of each request of a scenario, in order
_REQUESTS = {
    "get": [("GET", f"/v1/payment_intents/{INTENT}", "sk_test_bench", None)],
    "payment": [
        ("POST", "/v1/tokens", "pk_test_bench", _CARD),
        ("POST", "/v1/payment_intents", "sk_test_bench", '{"amount": 2500, "currency": "usd"}'),
        (
            "POST",
            f"/v1/payment_intents/{INTENT}/confirm",
            "sk_test_bench",
            f'{{"payment_method": "{TOKEN}"}}',
        ),
    ],
}


def exactly(port: int, scenario: str, count: int, headers: dict[str, str]) -> int:
    """`count` requests of `scenario`, one after the other on one keep-alive connection
    (a new one after each answer when `headers` ask for Connection: close); the number
    of answers that were not 2xx."""
    import http.client

    failed = 0
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    steps = _REQUESTS[scenario]
    for i in range(count):
        method, path, key, body = steps[i % len(steps)]
        sent = {"Authorization": f"Bearer {key}", **headers}
        if body is not None:
            sent["Content-Type"] = "application/json"
            if path.endswith("/confirm"):
                sent["Idempotency-Key"] = f"bench-{i}"
        connection.request(method, path, body=body, headers=sent)
        answer = connection.getresponse()
        answer.read()
        failed += not 200 <= answer.status < 300
        if answer.will_close:
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.close()
    return failed


def _instructions(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def count_variant(
    name: str, tmp: Path, base_config: Config, http_port: int, scenarios: list[str], args: Any
) -> dict[str, Any]:
    """Instructions per request (valgrind's callgrind, one worker thread): independent of
    the machine's load, unlike CPU time. Idle instructions (timers, health checks) over the
    same time are measured first and taken off."""

    path, flags, headers = _variant(name, tmp, base_config)
    out = tmp / f"callgrind-{name}"
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        *_command(path, flags or ["--concurrency", "1"]),
    ]
    envoy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def control(*what: str) -> None:
        subprocess.run(["callgrind_control", *what, str(envoy.pid)], capture_output=True)

    try:
        _wait_open(http_port, timeout=300)
        time.sleep(15)  # the first health checks, under valgrind
        control("-i", "on")
        time.sleep(2)
        control("-z")
        time.sleep(args.seconds)
        control("-d")
        dumps = sorted(tmp.glob(f"callgrind-{name}.*"), key=lambda f: f.stat().st_mtime)
        idle = _instructions(dumps[-1]) / args.seconds
        result: dict[str, Any] = {"variant": name, "idle_per_s": round(idle)}
        for scenario in scenarios:
            exactly(http_port, scenario, 6, headers)  # warm-up
            control("-z")
            started = time.monotonic()
            failed = exactly(http_port, scenario, args.requests, headers)
            control("-d")
            took = time.monotonic() - started
            dumps = sorted(tmp.glob(f"callgrind-{name}.*"), key=lambda f: f.stat().st_mtime)
            total = _instructions(dumps[-1]) - idle * took
            result[scenario] = {
                "requests": args.requests,
                "non_2xx": failed,
                "instructions_per_request": round(total / args.requests),
            }
        return result
    finally:
        envoy.terminate()
        try:
            envoy.wait(120)
        except subprocess.TimeoutExpired:  # valgrind still starting Envoy
            envoy.kill()
            envoy.wait(10)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("command", nargs="?", default="measure", choices=["measure", "upstream"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--variants", default="base,no_lua")
    p.add_argument("--scenarios", default="get,payment")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--get-rate", type=float, default=400.0)
    p.add_argument("--post-rate", type=float, default=150.0)
    p.add_argument("--out", default="")
    p.add_argument("--requests", type=int, default=150, help="per scenario, --instructions")
    p.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    args = p.parse_args()
    from servers.runtime import envoy_config

    if args.command == "upstream":
        asyncio.run(_serve(args.port, envoy_config.descriptor_path()))
        return
    names = args.variants.split(",")
    order = [n for _ in range(args.rounds) for n in (*names, *reversed(names))]
    if args.instructions:  # a count does not drift with the load: once each
        order = names * args.rounds
    scenarios = args.scenarios.split(",")
    http_port, admin_port = free_port(), free_port()
    base = free_port_range(2, avoid={http_port, admin_port})
    upstreams = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.bench.envoy_cpu", "upstream", "--port", str(port)],
            cwd=REPO,
        )
        for port in (base, base + 1)
    ]
    results = []
    try:
        for port in (base, base + 1):
            _wait_open(port)
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            config = rendered(tmp, http_port, admin_port, base)
            for name in order:
                run = count_variant if args.instructions else run_variant
                result = run(name, tmp, config, http_port, scenarios, args)
                print(json.dumps(result), flush=True)
                results.append(result)
    finally:
        for u in upstreams:  # stateless stand-ins; grpc.aio may sit out a SIGTERM
            u.kill()
        for u in upstreams:
            u.wait(10)
    print(summary(results, scenarios, args.instructions))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


def summary(results: list[dict[str, Any]], scenarios: list[str], counted: bool = False) -> str:
    """A Markdown table: per variant and scenario, the runs' ms (or instructions) per
    request."""
    key = "instructions_per_request" if counted else "ms_per_request"
    by: dict[str, dict[str, list[float]]] = {}
    for r in results:
        for s in scenarios:
            by.setdefault(r["variant"], {}).setdefault(s, []).append(r[s][key])
    lines = ["| variant | " + " | ".join(f"{s} ms/request (runs)" for s in scenarios) + " |"]
    lines.append("| --- |" + " ---: |" * len(scenarios))
    for name, per in by.items():
        cells = []
        for s in scenarios:
            runs = per[s]
            digits = 0 if counted else 3
            mean = sum(runs) / len(runs)
            cells.append(f"{mean:.{digits}f} ({', '.join(f'{v:.{digits}f}' for v in runs)})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
