"""The API role writes its log lines from a thread; they are the same lines, all of them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

PROGRAM = """
import logging
from servers.grpc import context as call
from servers.runtime import logging_setup

logging_setup.configure("INFO", background=True)
call.request_id.set("req_123")
for i in range(500):
    logging.getLogger("paygate.access").info("rpc", extra={"fields": {"n": i}})
logging.getLogger("paygate.test").info("card 4242424242424242 in a message")
"""


def test_lines_written_by_the_thread_keep_their_request_id_and_masking() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["n"] for line in lines[:-1]] == list(range(500))  # all, in order, at exit
    assert {line["request_id"] for line in lines} == {"req_123"}
    assert "4242424242424242" not in out and lines[-1]["msg"].startswith("card ")
