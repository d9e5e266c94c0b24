"""The operations page lists every setting the gateway reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from servers.runtime.settings import Settings, env_name

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_every_setting_is_documented() -> None:
    text = OPERATIONS.read_text()
    names = [env_name(f.name) for f in dataclasses.fields(Settings)]
    missing = [n for n in names if f"`{n}`" not in text]
    assert missing == []
