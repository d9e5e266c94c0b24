"""A merchant's webhook endpoint on 127.0.0.1 that keeps everything it is sent.

It answers 200 to every POST and keeps each body as it arrived (the sentinel scans them),
how many times each event id (the webhook-id header) came (the replica tests count
repeats) and when each first came (the webhook benchmark). Subscribe
`receiver.url` on a gateway started with webhook_allowed_networks="127.0.0.1/32".
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.arrivals: Counter[str] = Counter()  # event id -> deliveries received
        self.first_arrival: dict[str, float] = {}  # event id -> time.monotonic()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the sender's pool reuses connections

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                event_id = self.headers.get("webhook-id", "")
                with receiver.lock:
                    receiver.bodies.append(body)
                    receiver.arrivals[event_id] += 1
                    receiver.first_arrival.setdefault(event_id, time.monotonic())
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def snapshot(self) -> tuple[list[bytes], Counter[str]]:
        with self.lock:
            return list(self.bodies), Counter(self.arrivals)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def subscribe(rest_url: str, secret_key: str, url: str) -> str:
    """A webhook endpoint for every event type at `url`; its id."""
    made = httpx.post(
        f"{rest_url}/v1/webhook_endpoints",
        json={"url": url, "enabled_events": ["*"]},
        headers={"Authorization": f"Bearer {secret_key}", "Idempotency-Key": url},
        timeout=30,
    )
    assert made.status_code == 200, made.text
    return str(made.json()["id"])
