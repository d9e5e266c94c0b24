"""`python -m tests.bench --topology both --rounds N`: the two topologies side by side.

Two runs of the same tree, one after the other, differ by up to 20 % in a closed-loop
peak of 8 to 20 seconds on two cores (docs/performance.md, "The extra hop, measured in
alternation"), which is as much as the extra hop is allowed to cost. So a pair of
separate runs cannot say whether the hop is within its budget. This mode starts both
gateways at once, each on its own data folder and embedded PostgreSQL, and measures the
scenarios' peaks in rounds, the order reversed every round (embedded, split; split,
embedded; ...), so that a drift of the machine during the run falls on both alike, and
each round gives one pair measured a minute apart. While one gateway is under load the
other is idle: its idle CPU is on the machine for both topologies' runs alike.

It writes one results file per topology (`<time>.json` and `<time>-split.json`, every
scenario once per round, with its `round`), which `python -m tests.bench compare` reads
like any other, and the comparison (`<time>-topologies.json`), whose `paired` figures
are the medians of the rounds' split / embedded ratios and the ratio of the payments
summed over the rounds.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.bench import measure, topologies

EMBEDDED, SPLIT = topologies.EMBEDDED, topologies.SPLIT


def order(round_index: int) -> tuple[str, str]:
    """Which topology goes first in a round: alternately, so that a drift cancels."""
    return (EMBEDDED, SPLIT) if round_index % 2 == 0 else (SPLIT, EMBEDDED)


def run_rounds(
    targets: dict[str, Any],
    rounds: int,
    scenario_names: Sequence[str],
    measure_scenario: Callable[[str, Any, str], list[dict[str, Any]]],
) -> dict[str, list[dict[str, Any]]]:
    """Every scenario on every target, round after round; each result tagged with its
    round. `measure_scenario(name, target, topology)` measures one scenario once."""
    results: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    for index in range(rounds):
        for topology in order(index):
            for name in scenario_names:
                for result in measure_scenario(name, targets[topology], topology):
                    results[topology].append({**result, "round": index})
    return results


def data_dirs(base: Path, keep: bool) -> dict[str, Path]:
    dirs = {EMBEDDED: base, SPLIT: base.with_name(base.name + "-split")}
    for path in dirs.values():
        if path.exists() and not keep:
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
    return dirs


def write(
    out_dir: Path,
    started: datetime,
    reports: dict[str, dict[str, Any]],
    quick: bool = False,
) -> dict[str, Path]:
    """The results file of each topology, and the comparison of the two."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    tail = "-quick" if quick else ""
    paths = {
        EMBEDDED: out_dir / f"{stamp}{tail}.json",
        SPLIT: out_dir / f"{stamp}-split{tail}.json",
    }
    for topology, path in paths.items():
        path.write_text(json.dumps(reports[topology], indent=2) + "\n")
    rows = topologies.runs([reports[EMBEDDED], reports[SPLIT]])
    summaries = topologies.summary(rows)
    print(topologies.markdown(rows, summaries), end="", flush=True)
    comparison = out_dir / f"{stamp}-topologies{tail}.json"
    comparison.write_text(
        json.dumps(
            {"runs": [p.name for p in paths.values()], "rows": rows, "summary": summaries},
            indent=2,
        )
        + "\n"
    )
    return {**paths, "comparison": comparison}


def options_for_rounds(opts: Any) -> Any:
    """Peaks only: the open-model run at half the peak measures latency, not the hop."""
    return dataclasses.replace(opts, peak_only=True)


def idle_both(targets: dict[str, Any], seconds: float) -> None:
    """Each gateway's idle CPU, measured while the other is idle too."""
    for target in targets.values():
        if target.processes is not None:
            target.idle_cpu = measure.idle_cpu(target.processes, seconds)
