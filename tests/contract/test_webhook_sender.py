"""The httpx sender connects to the address the SSRF guard checked, with the merchant's host
name as Host, follows no redirect, and reads at most a KiB of the answer.

The receiver is a local HTTP server on 127.0.0.1; the URL's host name is one no resolver
knows, so a connection that arrives proves no second DNS lookup happened.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from adapters.webhooks.http_sender import HttpxSender
from core.events.ssrf import Destination, parse_url


class Seen:
    def __init__(self) -> None:
        self.hosts: list[str] = []
        self.paths: list[str] = []


@pytest.fixture
def server() -> Iterator[tuple[int, Seen]]:
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            seen.hosts.append(self.headers.get("host", ""))
            seen.paths.append(self.path)
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("location", "http://169.254.169.254/")
                self.send_header("content-length", "0")
                self.end_headers()
                return
            if self.path.startswith("/busy"):
                self.send_response(503)
                self.send_header("retry-after", "42")
                self.send_header("content-length", "0")
                self.end_headers()
                return
            body = b"x" * 5000
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd.server_address[1], seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def destination(port: int, path: str) -> Destination:
    url = parse_url(f"http://hooks.paygate-test.invalid:{port}{path}", livemode=False)
    return Destination(url, ipaddress.ip_address("127.0.0.1"))


async def test_it_connects_to_the_checked_address_with_the_host_name_as_host(
    server: tuple[int, Seen],
) -> None:
    port, seen = server
    sender = HttpxSender()
    try:
        result = await sender.send(
            destination(port, "/hooks?a=1"), {"webhook-id": "evt_1"}, b"{}", within=5
        )
    finally:
        await sender.aclose()
    assert result.status_code == 200 and result.error == ""
    assert seen.hosts == [f"hooks.paygate-test.invalid:{port}"]
    assert seen.paths == ["/hooks?a=1"]
    assert len(result.body) == 1024  # the first KiB only


async def test_redirects_are_not_followed_and_retry_after_is_read(
    server: tuple[int, Seen],
) -> None:
    port, seen = server
    sender = HttpxSender()
    try:
        moved = await sender.send(destination(port, "/redirect"), {}, b"{}", within=5)
        busy = await sender.send(destination(port, "/busy"), {}, b"{}", within=5)
    finally:
        await sender.aclose()
    assert moved.status_code == 302
    assert seen.paths == ["/redirect", "/busy"]  # nothing went to the Location
    assert busy.status_code == 503 and busy.retry_after == 42.0


async def test_a_refused_connection_is_a_result_not_an_exception() -> None:
    sender = HttpxSender()
    try:
        # A loopback port nothing listens on (the receiver of a closed server).
        with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
            port = closed.server_address[1]
        result = await sender.send(destination(port, "/"), {}, b"{}", within=2)
    finally:
        await sender.aclose()
    assert result.status_code == 0 and result.error
