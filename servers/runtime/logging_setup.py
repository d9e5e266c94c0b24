"""JSON-line logs on stdout: one object per line, with the request id of the call."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
from datetime import UTC, datetime

from adapters.logging_filter import PanMaskingFormatter
from servers.grpc import context as call


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        line["msg"] = record.getMessage()
        # Structured fields: log.info("serving", extra={"fields": {"port": 50061}}).
        line.update(getattr(record, "fields", {}))
        rid = getattr(record, "request_id", None) or call.request_id.get()
        if rid:
            line.setdefault("request_id", rid)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class _Deferred(logging.handlers.QueueHandler):
    """Hands the record to the writer thread as it is: formatting, masking and the write
    to stdout happen there, off the event loop. Only the call's request id (a context
    variable, unknown to another thread) is taken along."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        rid = call.request_id.get()
        if rid:
            record.request_id = rid
        return record


def configure(level: str = "INFO", *, background: bool = False) -> None:
    """JSON lines on stdout. With `background` (the API role: a line per call) a thread
    formats and writes them, so a slow reader of stdout never stalls the event loop; the
    lines still written when the process exits are flushed first."""
    handler: logging.Handler = logging.StreamHandler(sys.stdout)
    # Masking the finished line covers the message, structured fields and tracebacks alike.
    handler.setFormatter(PanMaskingFormatter(JsonLines()))
    if background:
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        listener = logging.handlers.QueueListener(records, handler)
        listener.start()
        atexit.register(listener.stop)
        handler = _Deferred(records)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
