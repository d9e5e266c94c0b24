"""`python -m tests.bench compare RESULTS...`: the cardholder-data zone in the API processes
(embedded) against the zone in its own process (split), from runs of the harness with
the same arguments and `--topology embedded` / `--topology split` (alternate them: the
machine's load drifts).

For every scenario both topologies ran: each run's throughput, the gateway's CPU ms per
operation (every process kind summed but the load generator) and each kind's, net of the
processes' idle CPU over the measurement's window where the run measured it (the
figure compared; measure.idle_cpu says why), then the means by topology and split's
ratio to embedded. The extra hop's budget is 10 % of the
CPU per payment (docs/performance.md, "The cardholder-data zone in its own process");
throughput is printed beside it, but on a shared machine it moves with the load.
Prints the tables and writes <out>/<time>-topologies.json.

A REST payment flow is three requests (token, create, confirm) on one wrk connection, and
the harness counts the flows completed; the flows in progress when the run ends (up to
one per connection) used CPU too. With few flows per run (a loaded machine: a dozen in
15 s on 16 connections) that CPU weighs on the completed ones several times over, so the
comparison counts payments as the requests answered divided by three. The gRPC load
counts only completed flows: its figure keeps that bias (`per` in the rows says which).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from statistics import fmean, median
from typing import Any

from tests.bench.measure import gateway_cpu_ms

# The extra hop may cost this much more CPU per operation (split against embedded).
BUDGET = 1.10
EMBEDDED, SPLIT = "embedded", "split"
# Requests of one flow of the REST scenarios, by the start of the scenario's name.
REST_FLOW_REQUESTS = {"full payment": 3}


def _payments(s: dict[str, Any]) -> tuple[float, str]:
    """What a scenario's CPU is divided by: answered requests over the flow's requests for
    a REST flow, else the operations completed."""
    steps = next(
        (n for prefix, n in REST_FLOW_REQUESTS.items() if s["scenario"].startswith(prefix)), 0
    )
    if s.get("transport") == "rest" and steps:
        return sum(s["statuses"].values()) / steps, "answered requests / 3"
    return float(s["ops"]), "completed flows"


def _rescaled(per_op: dict[str, float] | None, scale: float) -> dict[str, float] | None:
    return None if per_op is None else {k: round(v * scale, 4) for k, v in per_op.items()}


def runs(reports: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per scenario per report: what the comparison needs of it."""
    rows = []
    for report in reports:
        topology = report.get("topology", EMBEDDED)
        for s in report["scenarios"]:
            payments, per = _payments(s)
            # The harness divided by max(ops, 1): back to the totals, then by `payments`.
            scale = max(s["ops"], 1) / payments if payments else 1.0
            cpu = _rescaled(s.get("cpu_ms_per_op", {}), scale) or {}
            net = _rescaled(s.get("net_cpu_ms_per_op"), scale)
            rows.append(
                {
                    "scenario": s["scenario"],
                    "topology": topology,
                    "started": report["started"],
                    "ops": s["ops"],
                    "payments": round(payments, 1),
                    "per": per,
                    "failures": s["failures"],
                    "throughput": s["throughput"],
                    "p50_ms": s["p50_ms"],
                    "gateway_cpu_ms_per_op": gateway_cpu_ms(cpu),
                    "cpu_ms_per_op": cpu,
                    "gateway_net_cpu_ms_per_op": None if net is None else gateway_cpu_ms(net),
                    "net_cpu_ms_per_op": net,
                    "load_average": s.get("load_average"),
                    # --topology both: the round of alternation, which pairs the runs.
                    "round": s.get("round"),
                }
            )
    return rows


def paired(by: dict[str, list[dict[str, Any]]], total: str) -> dict[str, Any] | None:
    """Split / embedded round by round (runs of --topology both, a minute apart): the
    medians of the rounds' ratios and the ratio of the payments summed. None without
    rounds on both sides."""
    rounds = {
        t: {r["round"]: r for r in members if r.get("round") is not None}
        for t, members in by.items()
    }
    common = sorted(set(rounds[EMBEDDED]) & set(rounds[SPLIT]))
    if not common:
        return None
    e, p = rounds[EMBEDDED], rounds[SPLIT]
    throughput = [p[i]["throughput"] / e[i]["throughput"] for i in common if e[i]["throughput"]]
    cpu = [p[i][total] / e[i][total] for i in common if e[i][total]]
    summed = sum(e[i]["payments"] for i in common)
    return {
        "rounds": len(common),
        "throughput_ratios": [round(x, 3) for x in throughput],
        "throughput_ratio_median": round(median(throughput), 3) if throughput else None,
        "cpu_ratios": [round(x, 3) for x in cpu],
        "cpu_ratio_median": round(median(cpu), 3) if cpu else None,
        "payments_summed_ratio": round(sum(p[i]["payments"] for i in common) / summed, 3)
        if summed
        else None,
    }


def summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario that both topologies ran: the means and split's ratios to embedded."""
    out = []
    for name in dict.fromkeys(r["scenario"] for r in rows):
        by = {
            t: [r for r in rows if r["scenario"] == name and r["topology"] == t]
            for t in (EMBEDDED, SPLIT)
        }
        if not by[EMBEDDED] or not by[SPLIT]:
            continue
        # Net of idle CPU when every run of the scenario measured it.
        net = all(r["gateway_net_cpu_ms_per_op"] is not None for rs in by.values() for r in rs)
        total, kinds_of = (
            ("gateway_net_cpu_ms_per_op", "net_cpu_ms_per_op")
            if net
            else ("gateway_cpu_ms_per_op", "cpu_ms_per_op")
        )
        means: dict[str, dict[str, Any]] = {}
        for topology, members in by.items():
            kinds = sorted({k for r in members for k in r[kinds_of]})
            means[topology] = {
                "runs": len(members),
                "throughput": round(fmean(r["throughput"] for r in members), 1),
                "gateway_cpu_ms_per_op": round(fmean(r[total] for r in members), 3),
                "cpu_ms_per_op": {
                    k: round(fmean(r[kinds_of].get(k, 0.0) for r in members), 3) for k in kinds
                },
                "load_average": [r["load_average"] for r in members],
            }
        cpu_ratio = means[SPLIT]["gateway_cpu_ms_per_op"] / means[EMBEDDED]["gateway_cpu_ms_per_op"]
        out.append(
            {
                "scenario": name,
                "net_of_idle": net,
                EMBEDDED: means[EMBEDDED],
                SPLIT: means[SPLIT],
                "cpu_split_vs_embedded": round(cpu_ratio, 3),
                "throughput_split_vs_embedded": round(
                    means[SPLIT]["throughput"] / means[EMBEDDED]["throughput"], 3
                ),
                "within_budget": cpu_ratio <= BUDGET,
                "paired": paired(by, total),
            }
        )
    return out


KINDS = ("api", "vault", "envoy", "postgres", "launcher", "other", "loadgen")


def markdown(rows: Sequence[dict[str, Any]], summaries: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| scenario | zone | run | payments | ops/s | gateway CPU ms/op | net of idle | api "
        "| vault | envoy | postgres | launcher | other | loadgen | load |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |",
    ]
    for r in rows:
        cpu = r["net_cpu_ms_per_op"] or r["cpu_ms_per_op"]
        kinds = " | ".join(str(cpu.get(k, "")) for k in KINDS)
        run = r["started"] if r.get("round") is None else f"round {r['round']}"
        lines.append(
            f"| {r['scenario']} | {r['topology']} | {run} | {r['payments']} "
            f"| {r['throughput']} | {r['gateway_cpu_ms_per_op']} "
            f"| {r['gateway_net_cpu_ms_per_op']} | {kinds} | {r['load_average']} |"
        )
    lines += [
        "",
        "| scenario | embedded ops/s | split ops/s | ratio | embedded CPU ms/op | split CPU "
        "ms/op | ratio | within +10 % |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in summaries:
        e, p = s[EMBEDDED], s[SPLIT]
        lines.append(
            f"| {s['scenario']} | {e['throughput']} | {p['throughput']} "
            f"| {s['throughput_split_vs_embedded']} | {e['gateway_cpu_ms_per_op']} "
            f"| {p['gateway_cpu_ms_per_op']} | {s['cpu_split_vs_embedded']} "
            f"| {'yes' if s['within_budget'] else 'no'} |"
        )
    pairs = [(s["scenario"], s["paired"]) for s in summaries if s.get("paired")]
    if pairs:
        lines += [
            "",
            "| scenario | rounds | ops/s split / embedded, each round | median | payments "
            "summed | CPU split / embedded, each round | median |",
            "| --- | ---: | --- | ---: | ---: | --- | ---: |",
        ]
        for name, q in pairs:
            lines.append(
                f"| {name} | {q['rounds']} | {', '.join(map(str, q['throughput_ratios']))} "
                f"| {q['throughput_ratio_median']} | {q['payments_summed_ratio']} "
                f"| {', '.join(map(str, q['cpu_ratios']))} | {q['cpu_ratio_median']} |"
            )
    return "\n".join(lines) + "\n"


def main(paths: Sequence[str], out_dir: Path) -> int:
    if not paths:
        print("compare: name the results JSON of each run", flush=True)
        return 2
    reports = [json.loads(Path(p).read_text()) for p in paths]
    rows = runs(reports)
    summaries = summary(rows)
    print(markdown(rows, summaries), end="")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-topologies.json"
    path.write_text(
        json.dumps(
            {"runs": [Path(p).name for p in paths], "rows": rows, "summary": summaries}, indent=2
        )
        + "\n"
    )
    print(f"comparison: {path}")
    return 0
