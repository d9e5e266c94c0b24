"""JSON-line logs on stdout: one object per line, with the request id of the call."""

from __future__ import annotations

import json
import logging
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
        rid = call.request_id.get()
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


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    # Scrubbing the finished line covers the message, structured fields and tracebacks
    # alike, of every logger that propagates to the root (grpcio's and asyncio's too).
    handler.setFormatter(RedactingFormatter(JsonLines()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
