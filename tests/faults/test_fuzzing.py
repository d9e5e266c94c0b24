"""The atheris targets of tests/faults/fuzz.py, each for PAYGATE_FUZZ_RUNS inputs (a short
while in `make test`; `make test-faults` runs many more). A crash, an exception other
than the refusal the API answers 400 with, or a card number in an error fails the run,
and libFuzzer prints the input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# tests.faults.fuzz.TARGETS; not imported here, which would instrument this process.
TARGETS = ("card", "intent", "json")
RUNS = int(os.environ.get("PAYGATE_FUZZ_RUNS", "2000"))


@pytest.mark.parametrize("target", TARGETS)
def test_entry_point_survives_fuzzing(target: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.faults.fuzz", target, f"-runs={RUNS}", "-seed=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    report = [line for line in done.stderr.splitlines() if not line.startswith("INFO: Instr")]
    assert done.returncode == 0, "\n".join(report[-40:])
    assert f"Done {RUNS} runs" in done.stderr, "\n".join(report[-10:])
