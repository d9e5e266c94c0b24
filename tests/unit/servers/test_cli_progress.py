"""Progress bars of the operator commands: drawn on a terminal, silent in a pipe."""

from __future__ import annotations

import io

from rich.console import Console

from servers.cli.progress import Steps


def test_steps_count_and_name_what_runs_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with Steps("settle 2026-12-01", ["settling", "checkpointing"], console=console) as steps:
        steps.step("settling")
        assert (steps.done, steps.total) == (0, 2)
        steps.step("checkpointing")
        assert steps.done == 1
    assert steps.done == 2
    drawn = out.getvalue()
    assert "settle 2026-12-01" in drawn and "2/2" in drawn and "done" in drawn


def test_a_growing_job_and_a_failure_say_where_it_stopped() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    try:
        with Steps("vault rotate", ["pass 1"], console=console) as steps:
            steps.step("pass 1")
            steps.grow()
            steps.step("pass 2, 10 rows left")
            raise RuntimeError("database gone")
    except RuntimeError:
        pass
    assert (steps.done, steps.total) == (1, 2)
    assert "stopped at: pass 2, 10 rows left" in out.getvalue()


def test_nothing_is_drawn_when_stderr_is_not_a_terminal() -> None:
    with Steps("reconcile", ["reading"]) as steps:  # pytest's stderr is not a terminal
        steps.step("reading")
    assert steps.done == 1
