"""The Grafana dashboard (deploy/grafana/paygate.json) queries only metrics paygate
defines (adapters/observability/metrics.py); the Envoy names it uses are checked against
a live scrape in tests/e2e/test_observability_e2e.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

from adapters.observability.metrics import process_metrics

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "paygate.json"
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "")


def names_in_dashboard(prefix: str) -> set[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    return {name for e in exprs for name in re.findall(rf"\b{prefix}[a-z_]+", e)}


def envoy_names_in_dashboard() -> set[str]:
    return names_in_dashboard("envoy_")


def test_every_paygate_metric_the_dashboard_queries_exists() -> None:
    metrics = process_metrics("api")
    metrics.watch_pool("payments", lambda: {"size": 1})
    defined = {family.name + suffix for family in metrics.registry.collect() for suffix in SUFFIXES}
    used = names_in_dashboard("paygate_")
    assert used, "the dashboard queries no paygate metric"
    assert used <= defined, used - defined
