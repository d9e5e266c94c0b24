"""Readiness probes of the launcher's children: gRPC health, a TCP port, Envoy."""

from __future__ import annotations

import asyncio
import socket

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc


def grpc_health(target: str, timeout: float = 1.0, *, strict: bool = False) -> bool:
    """True when target's overall health is SERVING (unless strict, a server without
    the health service counts as ready once it answers at all)."""
    with grpc.insecure_channel(target) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[attr-defined]
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.RpcError as err:
            code = err.code()
            return not strict and code == grpc.StatusCode.UNIMPLEMENTED
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def envoy_ready(
    admin_url: str, grpc_target: str, rest: tuple[str, int], *, tls: bool = False
) -> bool:
    """Envoy's admin says ready and both listeners accept. Over h2c the gRPC listener must
    also route a health check; with TLS the launcher need not trust the certificate, so an
    accepted connection is enough (the API processes behind it are checked one by one)."""
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            response = await client.get(f"{admin_url}/ready")
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    if tls:
        host, _, port = grpc_target.rpartition(":")
        if not await asyncio.to_thread(tcp_open, host, int(port)):
            return False
    elif not await asyncio.to_thread(grpc_health, grpc_target, strict=True):
        return False
    return await asyncio.to_thread(tcp_open, *rest)
