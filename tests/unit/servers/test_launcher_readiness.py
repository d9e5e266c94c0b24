"""The launcher's readiness budget is the one in force when a child starts: the e2e and
fault tests lengthen it for a loaded machine, and a restarted child or an external role
started later must get the longer budget too."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest

from servers.runtime import launcher
from servers.runtime.launcher import Launcher, StartupError, _Child
from servers.runtime.settings import Settings


async def test_a_child_that_never_becomes_ready_gets_the_budget_set_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = Launcher(Settings(data_dir=tmp_path), out=io.StringIO())
    child = _Child("psp", ["psp"], grace=1.0)
    child.process = SimpleNamespace(returncode=None, pid=4242)  # type: ignore[assignment]

    async def never(_: _Child) -> bool:
        return False

    monkeypatch.setattr(group, "_probe", never)
    monkeypatch.setattr(launcher, "READY_TIMEOUT", 0.3)
    with pytest.raises(StartupError, match="psp not ready after 0 s"):
        await group._wait_ready(child)
    with pytest.raises(StartupError, match="psp not ready after 0 s"):
        await group._wait_ready(child, 0.2)
