"""JSON-line logs on stdout: one object per line, with the request id of the call."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
from datetime import UTC, datetime
from typing import Any

from adapters.logging_filter import RedactingFormatter
from servers.grpc import context as call


def json_line(
    level: str,
    msg: str,
    *,
    logger: str = "",
    proc: str = "",
    at: datetime | None = None,
    **fields: Any,
) -> str:
    """One log record as one JSON line: the shape of every line paygate writes (this
    module's formatter, the launcher's own lines and its children's text, the `paygate`
    command's messages)."""
    line: dict[str, object] = {
        "ts": (at or datetime.now(UTC)).isoformat(timespec="milliseconds"),
        "level": level,
    }
    if logger:
        line["logger"] = logger
    if proc:  # the process of `paygate up` that wrote it
        line["proc"] = proc
    line["msg"] = msg
    line.update(fields)
    return json.dumps(line, default=str)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # Structured fields: log.info("serving", extra={"fields": {"port": 50061}}).
        fields: dict[str, Any] = dict(getattr(record, "fields", {}))
        # Written by the writer thread (configure(background=True)): the id it carried.
        rid = getattr(record, "request_id", None) or call.request_id.get()
        if rid:
            fields.setdefault("request_id", rid)
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return json_line(
            record.levelname.lower(),
            record.getMessage(),
            logger=record.name,
            at=datetime.fromtimestamp(record.created, UTC),
            **fields,
        )


class _Deferred(logging.handlers.QueueHandler):
    """Hands the record to the writer thread as it is: formatting, scrubbing and the
    write to stdout happen there, off the event loop. Only the call's request id (a
    context variable, unknown to another thread) is taken along."""

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
    # Scrubbing the finished line covers the message, structured fields and tracebacks
    # alike, of every logger that propagates to the root (grpcio's and asyncio's too).
    handler.setFormatter(RedactingFormatter(JsonLines()))
    if background:
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        listener = logging.handlers.QueueListener(records, handler)
        listener.start()
        atexit.register(listener.stop)
        handler = _Deferred(records)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
