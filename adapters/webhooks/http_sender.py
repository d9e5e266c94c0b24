"""POSTs webhooks with httpx to the address the SSRF guard checked (core/events/ssrf.py).

One AsyncClient per process: pooled keep-alive connections per (address, port, host),
no redirects followed, no proxies from the environment (a proxy would resolve the name
itself and undo the check). The URL sent to httpx names the checked IP address; the
merchant's host name travels as the Host header and, for https, as the TLS SNI and the
name the certificate must match (httpx's `sni_hostname` extension), so the connection
goes where the check said and nowhere else: no second DNS lookup, no rebinding.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from adapters.failpoints import fail_point
from core.events.ports import SendResult
from core.events.ssrf import Destination

BODY_LIMIT = 1024


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def address_url(destination: Destination) -> str:
    url = destination.url
    host = (
        f"[{destination.address}]" if destination.address.version == 6 else str(destination.address)
    )
    return f"{url.scheme}://{host}:{url.port}{url.target}"


def host_header(destination: Destination) -> str:
    url = destination.url
    default = 443 if url.scheme == "https" else 80
    host = f"[{url.host}]" if ":" in url.host else url.host
    return host if url.port == default else f"{host}:{url.port}"


class HttpxSender:
    def __init__(self, *, max_connections: int = 200) -> None:
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    async def send(
        self, destination: Destination, headers: Mapping[str, str], body: bytes, within: float
    ) -> SendResult:
        request_headers = {**headers, "host": host_header(destination)}
        extensions = {}
        if destination.url.scheme == "https":
            extensions["sni_hostname"] = destination.url.host
        started = time.monotonic()
        try:
            async with self._client.stream(
                "POST",
                address_url(destination),
                content=body,
                headers=request_headers,
                timeout=httpx.Timeout(within),
                extensions=extensions,
            ) as response:
                # Mid-delivery: the endpoint has the event, the worker has not recorded it.
                fail_point("webhook.send.mid")
                text = await _first_kib(response)
        except httpx.TimeoutException:
            return SendResult(0, "", _ms(started), error=f"timed out after {within:g} s")
        except httpx.HTTPError as error:
            return SendResult(0, "", _ms(started), error=f"{type(error).__name__}: {error}"[:500])
        retry_after = None
        if response.status_code in (429, 503):
            retry_after = _retry_after(response.headers.get("retry-after"))
        return SendResult(response.status_code, text, _ms(started), retry_after=retry_after)

    async def aclose(self) -> None:
        await self._client.aclose()


async def _first_kib(response: httpx.Response) -> str:
    """Reads at most a KiB of the body: an endpoint cannot make the worker read more."""
    kept = b""
    async for chunk in response.aiter_raw():
        kept += chunk
        if len(kept) >= BODY_LIMIT:
            break
    return kept[:BODY_LIMIT].decode("utf-8", "replace")


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


class SystemResolver:
    """core.events.ssrf.Resolver with the operating system's resolver."""

    async def resolve(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))
