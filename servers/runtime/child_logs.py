"""The launcher's own log lines and its children's output, on one stream of JSON lines."""

from __future__ import annotations

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
        self.write_lines([line])

    def write_lines(self, lines: list[str]) -> None:
        """One write and one flush for all of them."""
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        with self._lock:
            try:
                self.out.write(text)
                self.out.flush()
            except (OSError, ValueError):
                pass  # stdout closed (the terminal went away): keep supervising

    def fileno(self) -> int | None:
        """The descriptor of the stream, for children that write their own lines to it;
        None when it has none (a StringIO) or is closed."""
        try:
            return self.out.fileno()
        except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation included
            return None

    def __call__(self, level: str, msg: str, **fields: Any) -> None:
        self.write_line(json_line(level, msg, logger="paygate.launcher", proc="launcher", **fields))

    def child_json(self, proc: str, line: str) -> None:
        self.write_line(tagged(proc, line))

    def child_text(self, proc: str, lines: list[str]) -> None:
        self.write_line(text_record(proc, lines))


def tagged(proc: str, line: str) -> str:
    """A child's JSON object line (Envoy's access log, a Python child's line too long to
    write itself): tagged without re-parsing it.

    Relayed lines are scrubbed (card numbers, credentials) here once more: Envoy's and
    gRPC core's output passes through no Python logging handler of ours.
    """
    inner = scrub(line[1:].lstrip())
    tag = '{"proc":' + json.dumps(proc)
    return tag + ("," + inner if inner != "}" else "}")


def text_record(proc: str, lines: list[str]) -> str:
    """Plain text (a traceback, a gRPC core message): one record for the whole burst."""
    first = lines[0]
    level = "info"
    if first.startswith("Traceback") or any(x.startswith("Traceback") for x in lines):
        level = "error"
    elif (grpc_core := _GRPC_CORE_LINE.match(first)) is not None:
        level = _GRPC_CORE_LEVELS[grpc_core.group(1)]
    return json_line(level, scrub("\n".join(lines)), proc=proc)


# gRPC core's own lines: "E1123 21:08:26.174700    2219 add_port.cc:83] ..."
_GRPC_CORE_LINE = re.compile(r"^([DIWEF])\d{4} \d\d:\d\d:\d\d")
_GRPC_CORE_LEVELS = {"D": "debug", "I": "info", "W": "warning", "E": "error", "F": "critical"}
# Plain-text lines that follow each other within this many seconds make one record.
TEXT_BURST = 0.05


class Relay:
    """One child's output as the launcher writes it: the lines of each read at once (one
    write for all the lines a busy child wrote meanwhile, not one per line), JSON object
    lines tagged, plain-text lines that follow each other within TEXT_BURST one record."""

    def __init__(self, log: JsonLog, proc: str) -> None:
        self.log = log
        self.proc = proc
        self.partial = b""  # the start of a line whose end has not come yet
        self.text: list[str] = []  # plain-text lines waiting for the rest of their burst

    def feed(self, chunk: bytes) -> None:
        """What one read returned; an empty chunk is the end of the output."""
        data = self.partial + chunk
        *lines, self.partial = data.split(b"\n")
        if not chunk or len(self.partial) >= LINE_LIMIT:
            lines.append(self.partial)
            self.partial = b""
        out: list[str] = []
        for raw in lines:
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            stripped = line.strip()
            if stripped.startswith("{") and stripped.endswith("}"):
                if self.text:
                    out.append(text_record(self.proc, self.text))
                    self.text = []
                out.append(tagged(self.proc, stripped))
            elif stripped:
                self.text.append(line)
        if not chunk and self.text:
            out.append(text_record(self.proc, self.text))
            self.text = []
        if out:
            self.log.write_lines(out)

    def end_burst(self) -> None:
        """No more plain text came within TEXT_BURST: the burst is one record."""
        if self.text:
            self.log.write_lines([text_record(self.proc, self.text)])
            self.text = []
