"""Progress bars for the long operator commands (settle, reconcile, vault rotate, replay).

Drawn with rich on stderr, and only when stderr is a terminal: the commands' JSON lines on
stdout stay the same for scripts, and logs collected from a pipe get no escape codes.
PAYGATE_NO_PROGRESS=1 turns them off on a terminal too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


def _console() -> Console | None:
    console = Console(stderr=True)
    if not console.is_terminal or os.environ.get("PAYGATE_NO_PROGRESS"):
        return None
    return console


class Steps:
    """A bar over named steps: `with Steps("settle 2026-12-01", ["settling", ...]) as s:
    s.step("settling") ... s.step("checkpointing")`; each step() completes the previous one.
    `total` may grow (`grow`), for work whose size is learnt on the way (rotation passes)."""

    def __init__(self, title: str, steps: Sequence[str], *, console: Console | None = None) -> None:
        self.title = title
        self.total = len(steps)
        self.done = 0
        self.current = ""
        self._console = console if console is not None else _console()
        self._progress: Progress | None = None
        self._task = TaskID(0)

    def __enter__(self) -> Steps:
        if self._console is not None:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.fields[title]}[/] {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self._console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("", total=self.total, title=self.title)
        return self

    def step(self, name: str) -> None:
        if self.current:
            self.done += 1
        self.current = name
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, description=name)

    def grow(self, more: int = 1) -> None:
        self.total += more
        if self._progress is not None:
            self._progress.update(self._task, total=self.total)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.current and kind is None:
            self.done += 1
        if self._progress is not None:
            description = "done" if kind is None else f"stopped at: {self.current}"
            self._progress.update(
                self._task, completed=self.done, total=self.total, description=description
            )
            self._progress.stop()
