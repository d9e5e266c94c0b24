"""JSON-line logs on stdout: one object per line, with the request id of the call."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import threading
import time
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


class _Writer(threading.Thread):
    """Formats, scrubs and writes the queued records a batch at a time: one write and
    one flush per batch, then a short pause, so a busy process hands this thread the GIL
    a few times a second rather than once per line. A line waits at most PAUSE."""

    PAUSE = 0.05  # seconds

    def __init__(self, records: queue.SimpleQueue[Any], handler: logging.Handler) -> None:
        super().__init__(name="paygate-log-writer", daemon=True)
        self._records = records
        self._handler = handler
        self._stream = sys.stdout

    def run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._records.get()]
            while True:
                try:
                    batch.append(self._records.get_nowait())
                except queue.Empty:
                    break
            lines = []
            records = [record for record in batch if record is not _STOP]
            stopping = len(records) < len(batch)
            for record in records:
                try:
                    lines.append(self._handler.format(record) + "\n")
                except Exception:
                    self._handler.handleError(record)
            if lines:
                try:
                    self._stream.write("".join(lines))
                    self._stream.flush()
                except Exception:  # a closed stdout: as logging does, report and go on
                    self._handler.handleError(records[-1])
            if not stopping:
                time.sleep(self.PAUSE)

    def stop(self) -> None:
        self._records.put(_STOP)
        self.join()


_STOP = object()


def configure(level: str = "INFO", *, background: bool = False) -> None:
    """JSON lines on stdout. With `background` (the API role: a line per call) a thread
    formats and writes them, so a slow reader of stdout never stalls the event loop; the
    lines still written when the process exits are flushed first."""
    handler: logging.Handler = logging.StreamHandler(sys.stdout)
    # Scrubbing the finished line covers the message, structured fields and tracebacks
    # alike, of every logger that propagates to the root (grpcio's and asyncio's too).
    handler.setFormatter(RedactingFormatter(JsonLines()))
    if background:
        records: queue.SimpleQueue[Any] = queue.SimpleQueue()
        writer = _Writer(records, handler)
        writer.start()
        atexit.register(writer.stop)
        handler = _Deferred(records)
        # The lines print none of these; gathering them (the caller's frame above all,
        # found by walking the stack) is the larger part of a record's cost.
        logging._srcfile = None
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
