"""Runs a browser script of tests/e2e/browser/ (node + playwright-core + Debian's chromium)
the way the browser e2e tests do: a fresh artifacts folder, the script's CONFIG.json in
it, the RESULTS.json it writes read back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is missing: `make test` installs it (apt-get install chromium)")
    return found


def fresh_artifacts(folder: Path) -> Path:
    """An empty `folder`: each run's screenshots and nothing older."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


async def run_script(
    script: Path,
    config: dict[str, Any],
    artifacts: Path,
    request: pytest.FixtureRequest,
    *,
    what: str,
    seconds: float,
) -> dict[str, Any]:
    """`node script CONFIG.json RESULTS.json` with `config` (plus the chromium binary and
    the artifacts folder); returns the results. Says where the screenshots are."""
    config = {"chromium": chromium(), "artifacts": str(artifacts), **config}
    config_path, results_path = artifacts / "config.json", artifacts / "results.json"
    config_path.write_text(json.dumps(config, indent=2))
    node = shutil.which("node")
    assert node, "node is missing (it runs `make gen` too)"
    run = await asyncio.to_thread(
        subprocess.run,
        [node, str(script), str(config_path), str(results_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds,
        env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"},
    )
    # Past pytest's capture, so that every run says where the screenshots are.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\n{what} screenshots: {artifacts}", flush=True)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    results: dict[str, Any] = json.loads(results_path.read_text())
    return results
