"""JSON-line logs on stdout: one object per line, with the request id of the call."""

from __future__ import annotations

import json
import logging
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
        rid = call.request_id.get()
        if rid:
            line.setdefault("request_id", rid)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    # Masking the finished line covers the message, structured fields and tracebacks alike.
    handler.setFormatter(PanMaskingFormatter(JsonLines()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
