"""The children's log lines under `paygate up`: written by each Python child itself onto
the launcher's output (tagged, whole lines, never cut into by another process), and the
rest relayed by the launcher a read at a time."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from servers.runtime.child_logs import JsonLog, Relay
from servers.runtime.logging_setup import ATOMIC_WRITE, LOG_FD_ENV, LOG_PROC_ENV, DirectLines

REPO = Path(__file__).resolve().parents[3]


def _line(n: int, pad: int = 0) -> str:
    return json.dumps({"ts": "t", "level": "info", "msg": "rpc", "n": n, "pad": "x" * pad}) + "\n"


def test_direct_lines_are_tagged_like_relayed_ones_in_writes_of_whole_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relayed: list[str] = []
    writes: list[bytes] = []
    read_end, write_end = os.pipe()
    sink = DirectLines(write_end, "api-0", relayed.extend)
    real_write = os.write

    def recording(fd: int, data: bytes) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    lines = [_line(i, pad=300) for i in range(40)]
    monkeypatch.setattr(os, "write", recording)
    sink(lines)
    monkeypatch.undo()
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        out = pipe.read().decode()
    assert relayed == []
    assert len(writes) > 1 and all(len(w) <= ATOMIC_WRITE and w.endswith(b"\n") for w in writes)
    parsed = [json.loads(x) for x in out.splitlines()]
    assert [p["n"] for p in parsed] == list(range(40))
    assert {p["proc"] for p in parsed} == {"api-0"}
    assert out.splitlines()[0].startswith('{"proc":"api-0","ts"')
    # The launcher's own tag, on a relayed line: the same text.
    log = io.StringIO()
    JsonLog(log).child_json("api-0", lines[0].strip())
    assert log.getvalue() == out.splitlines(keepends=True)[0]


def test_a_line_too_long_to_write_whole_or_not_json_goes_through_the_launcher() -> None:
    relayed: list[str] = []
    read_end, write_end = os.pipe()
    sink = DirectLines(write_end, "api-0", relayed.extend)
    long, text = _line(1, pad=ATOMIC_WRITE), "a traceback\n"
    sink([_line(0), long, text, _line(2)])
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        direct = [json.loads(x)["n"] for x in pipe.read().decode().splitlines()]
    assert direct == [0, 2]
    assert relayed == [long, text]  # untagged: the launcher tags (and wraps) them


def test_once_the_launchers_output_fails_every_line_goes_through_its_pipe() -> None:
    relayed: list[str] = []
    read_end, write_end = os.pipe()
    os.close(read_end)  # EPIPE on write (Python ignores SIGPIPE)
    sink = DirectLines(write_end, "api-0", relayed.extend)
    sink([_line(0)])
    sink([_line(1)])
    os.close(write_end)
    assert [json.loads(x)["n"] for x in relayed] == [0, 1]


PROGRAM = """
import logging, sys
from servers.runtime import logging_setup
logging_setup.configure("INFO", background={background})
import os
assert "PAYGATE_LOG_FD" not in os.environ  # not handed on to a process this one starts
logging.getLogger("paygate.test").info("card 4242424242424242 key sk_test_abcdefghijkl")
print("plain text on stdout")
"""


def test_a_child_of_the_launcher_writes_its_scrubbed_lines_to_the_inherited_output(
    tmp_path: Path,
) -> None:
    for background in (False, True):
        target = tmp_path / f"out-{background}.log"
        with target.open("w") as out:
            fd = out.fileno()
            done = subprocess.run(
                [sys.executable, "-c", PROGRAM.format(background=background)],
                cwd=REPO,
                env={**os.environ, LOG_FD_ENV: str(fd), LOG_PROC_ENV: "worker"},
                pass_fds=(fd,),
                capture_output=True,
                text=True,
                check=True,
            )
        line = json.loads(target.read_text())
        assert line["proc"] == "worker" and line["logger"] == "paygate.test"
        assert "4242424242424242" not in line["msg"] and "abcdefghijkl" not in line["msg"]
        assert done.stdout == "plain text on stdout\n"  # the launcher's pipe, as before


def test_the_relay_writes_the_lines_of_a_read_at_once_and_waits_for_a_lines_end() -> None:
    class Counting(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            self.writes += 1
            return super().write(text)

    out = Counting()
    relay = Relay(JsonLog(out), "envoy")
    relay.feed(b'{"a": 1}\n{"a": 2}\n{"a": "4242424242424242", "b"')
    assert out.writes == 1
    relay.feed(b': 3}\nTraceback (most recent call last):\n  File "x"\n')
    assert relay.text  # the burst may go on
    relay.end_burst()
    relay.feed(b'{"a": 4}')
    relay.feed(b"")  # the end: the unfinished last line too
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["proc"] for x in lines] == ["envoy"] * 5
    assert [x.get("a") for x in lines] == [1, 2, "************4242", None, 4]
    assert lines[3]["level"] == "error" and 'File "x"' in lines[3]["msg"]
