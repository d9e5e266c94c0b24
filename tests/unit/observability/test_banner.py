"""`make run`'s banner names every Prometheus target: each process's /metrics and Envoy's."""

from __future__ import annotations

from pathlib import Path

from servers.runtime.launcher import Ready, banner
from servers.runtime.seed import Seed


def test_the_banner_prints_every_metrics_url() -> None:
    ready = Ready(
        rest_url="http://127.0.0.1:8080",
        grpc_target="127.0.0.1:50051",
        admin_url="http://127.0.0.1:9901",
        database_url="postgresql+asyncpg://postgres@/paygate?host=/tmp/pg",
        embedded_database=True,
        seed=Seed("acct_1", "sk_test_x", "pk_test_y"),
        data_dir=Path("/tmp/var"),
        metrics_urls=(
            ("api-0", "http://127.0.0.1:9100/metrics"),
            ("api-1", "http://127.0.0.1:9101/metrics"),
            ("worker", "http://127.0.0.1:9102/metrics"),
            ("envoy", "http://127.0.0.1:9901/stats/prometheus"),
        ),
    )
    lines = banner(ready).splitlines()
    metrics = [line for line in lines if "/metrics" in line or "/stats/prometheus" in line]
    assert metrics[0].split() == ["metrics", "http://127.0.0.1:9100/metrics", "(api-0)"]
    assert [line.split()[-1] for line in metrics] == ["(api-0)", "(api-1)", "(worker)", "(envoy)"]
