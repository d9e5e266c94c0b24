"""The launcher's own log lines and its children's output, on one stream of JSON lines."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from typing import Any, TextIO

from core.shared.redaction import scrub
from servers.runtime.logging_setup import json_line

LINE_LIMIT = 1 << 20  # longest child output line kept whole


class JsonLog:
    """The launcher's own log lines and its children's, on one text stream."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._lock = threading.Lock()

    def write_line(self, line: str) -> None:
        with self._lock:
            try:
                self.out.write(line if line.endswith("\n") else line + "\n")
                self.out.flush()
            except (OSError, ValueError):
                pass  # stdout closed (the terminal went away): keep supervising

    def __call__(self, level: str, msg: str, **fields: Any) -> None:
        self.write_line(json_line(level, msg, logger="paygate.launcher", proc="launcher", **fields))

    def child_json(self, proc: str, line: str) -> None:
        """A JSON object line (the API's logs, Envoy's): tagged without re-parsing it.

        Children's lines are scrubbed (card numbers, credentials) here once more: Envoy's
        and gRPC core's output passes through no Python logging handler of ours.
        """
        inner = scrub(line[1:].lstrip())
        tag = '{"proc":' + json.dumps(proc)
        self.write_line(tag + ("," + inner if inner != "}" else "}"))

    def child_text(self, proc: str, lines: list[str]) -> None:
        """Plain text (a traceback, a gRPC core message): one record for the whole burst."""
        first = lines[0]
        level = "info"
        if first.startswith("Traceback") or any(x.startswith("Traceback") for x in lines):
            level = "error"
        elif (grpc_core := _GRPC_CORE_LINE.match(first)) is not None:
            level = _GRPC_CORE_LEVELS[grpc_core.group(1)]
        self.write_line(json_line(level, scrub("\n".join(lines)), proc=proc))


# gRPC core's own lines: "E1123 21:08:26.174700    2219 add_port.cc:83] ..."
_GRPC_CORE_LINE = re.compile(r"^([DIWEF])\d{4} \d\d:\d\d:\d\d")
_GRPC_CORE_LEVELS = {"D": "debug", "I": "info", "W": "warning", "E": "error", "F": "critical"}
# Plain-text lines that follow each other within this many seconds make one record.
TEXT_BURST = 0.05


async def read_line(stream: asyncio.StreamReader) -> bytes:
    try:
        return await stream.readline()
    except ValueError:  # a line longer than the limit: pass it on in pieces
        return await stream.read(LINE_LIMIT)
