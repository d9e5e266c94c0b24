"""JSON-line logs on stdout: one object per line, with the request id of the call."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import os
import queue
import select
import sys
import threading
import time
from collections.abc import Callable
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


# Set by `paygate up` (servers/runtime/launcher.py) in the environment of its Python
# children: a descriptor of the launcher's own output, inherited, and the name it tags
# this process's lines with. The lines go there directly, not through the launcher.
LOG_FD_ENV = "PAYGATE_LOG_FD"
LOG_PROC_ENV = "PAYGATE_LOG_PROC"
# Writes of at most this many bytes to a pipe are never interleaved with another
# process's writes (POSIX); to a file or a terminal no write of whole lines is.
ATOMIC_WRITE = select.PIPE_BUF


class DirectLines:
    """Finished log lines (already scrubbed) straight onto the launcher's output, each
    tagged with `"proc"` first as the launcher tags the lines it relays, in writes of
    whole lines of at most ATOMIC_WRITE bytes, so the lines of the processes sharing that
    output never cut into each other. A longer line, or every line once a write has
    failed, goes to `fallback` (stdout: the launcher's pipe, which tags it); so does
    anything that is not a JSON object, which the launcher wraps into one. Such a line
    may reach the output after the short lines of its batch."""

    def __init__(self, fd: int, proc: str, fallback: Callable[[list[str]], None]) -> None:
        self._fd = fd
        self._tag = '{"proc":' + json.dumps(proc) + ","
        self._fallback = fallback
        self._broken = False

    def __call__(self, lines: list[str]) -> None:
        if self._broken:
            self._fallback(lines)
            return
        chunk: list[tuple[str, bytes]] = []
        size = 0
        relayed: list[str] = []
        for line in lines:
            data = (self._tag + line[1:]).encode("utf-8", "replace")
            if not line.startswith("{") or len(data) > ATOMIC_WRITE:
                relayed.append(line)
                continue
            if size + len(data) > ATOMIC_WRITE:
                self._write(chunk)
                chunk, size = [], 0
            chunk.append((line, data))
            size += len(data)
        self._write(chunk)
        if relayed:
            self._fallback(relayed)

    def _write(self, chunk: list[tuple[str, bytes]]) -> None:
        if self._broken:
            self._fallback([line for line, _ in chunk])
            return
        data = b"".join(tagged for _, tagged in chunk)
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError:  # the launcher's output went away: its pipe is still read
            self._broken = True
            self._fallback([line for line, _ in chunk])


def _stream_lines(lines: list[str]) -> None:
    sys.stdout.write("".join(lines))
    sys.stdout.flush()


def _direct_sink() -> DirectLines | None:
    """The launcher's output, when this process is a child of `paygate up` that was given
    it (taken out of the environment: a process this one starts is not its child)."""
    fd, proc = os.environ.pop(LOG_FD_ENV, ""), os.environ.pop(LOG_PROC_ENV, "")
    if not fd.isdigit():
        return None
    try:
        os.fstat(int(fd))
    except OSError:
        return None
    return DirectLines(int(fd), proc, _stream_lines)


_sink: Callable[[list[str]], None] | None = None


def _lines_sink() -> Callable[[list[str]], None]:
    global _sink
    if _sink is None:
        _sink = _direct_sink() or _stream_lines
    return _sink


class _LineHandler(logging.Handler):
    """One formatted (and scrubbed) line per record, handed to the sink (under the
    handler's lock, which `Handler.handle` takes)."""

    def __init__(self, sink: Callable[[list[str]], None]) -> None:
        super().__init__()
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._sink([self.format(record) + "\n"])
        except Exception:
            self.handleError(record)


class _Writer(threading.Thread):
    """Formats, scrubs and writes the queued records a batch at a time: one write and
    one flush per batch, then a short pause, so a busy process hands this thread the GIL
    a few times a second rather than once per line. A line waits at most PAUSE."""

    PAUSE = 0.05  # seconds

    def __init__(
        self,
        records: queue.SimpleQueue[Any],
        handler: logging.Handler,
        sink: Callable[[list[str]], None] = _stream_lines,
    ) -> None:
        super().__init__(name="paygate-log-writer", daemon=True)
        self._records = records
        self._handler = handler
        self._sink = sink

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
                    self._sink(lines)
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
    lines still written when the process exits are flushed first. A child of `paygate up`
    writes them to the launcher's output itself (DirectLines), tagged with its name."""
    sink = _lines_sink()
    handler: logging.Handler = (
        logging.StreamHandler(sys.stdout) if sink is _stream_lines else _LineHandler(sink)
    )
    # Scrubbing the finished line covers the message, structured fields and tracebacks
    # alike, of every logger that propagates to the root (grpcio's and asyncio's too).
    handler.setFormatter(RedactingFormatter(JsonLines()))
    if background:
        records: queue.SimpleQueue[Any] = queue.SimpleQueue()
        writer = _Writer(records, handler, sink)
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
