"""The operator's HTTP port of a process: GET /metrics (Prometheus text format),
/readyz and /livez (servers/runtime/readiness.py), on PAYGATE_METRICS_PORT.

One port per process: Prometheus scrapes every process (every pod in Kubernetes) as a
target of its own; see docs/operations.md#metrics. It runs on a thread, so a scrape
never waits for the event loop and a busy loop never delays a scrape; the thread only
reads (the registry, under prometheus_client's own locks, and two attributes of the
Readiness object).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from servers.runtime.readiness import Readiness

log = logging.getLogger("paygate.ops")

StartResponse = Callable[..., Any]


class _Quiet(WSGIRequestHandler):
    """No stderr line per scrape: the access log would be all scrapes."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def wsgi_app(registry: CollectorRegistry, readiness: Readiness | None) -> Any:
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            result: Iterable[bytes] = metrics(environ, start_response)
            return result
        if path in ("/readyz", "/livez"):
            if readiness is None:
                ok, text = True, "ok"
            elif path == "/livez":
                ok, text = readiness.live(), "ok" if readiness.live() else "event loop stalled"
            else:
                ok, text = readiness.ready, "ok" if readiness.ready else readiness.problem
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [text.encode() + b"\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: /metrics, /readyz, /livez\n"]

    return app


class OpsServer:
    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.port: int = server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def start(
    host: str, port: int, registry: CollectorRegistry, readiness: Readiness | None
) -> OpsServer | None:
    """Serves on host:port from a daemon thread; None when port is 0 or taken (logged:
    the gateway still serves payments without its metrics)."""
    if not port:
        return None
    try:
        server = serve(host, port, registry, readiness)
    except OSError as error:
        log.error("metrics port unavailable", extra={"fields": {"port": port, "error": str(error)}})
        return None
    log.info("metrics and probes", extra={"fields": {"url": f"http://{host}:{server.port}"}})
    return server


def serve(
    host: str, port: int, registry: CollectorRegistry, readiness: Readiness | None
) -> OpsServer:
    """The server on host:port (0: any free port) from a daemon thread."""
    server = make_server(
        host, port, wsgi_app(registry, readiness), ThreadingWSGIServer, handler_class=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, name="ops-http", daemon=True)
    thread.start()
    return OpsServer(server, thread)
