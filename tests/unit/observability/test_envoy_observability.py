"""Envoy's part in metrics, traces and Kubernetes (servers/runtime/envoy_config.py):
tracing only when an OTLP collector is configured, a stats listener that exposes nothing
of the admin interface but /stats/prometheus and /ready, upstreams found by DNS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from servers.runtime import envoy_config
from servers.runtime.settings import Settings


def rendered(tmp_path: Path, **fields: Any) -> dict[str, Any]:
    settings = Settings(data_dir=tmp_path, **fields)
    path = envoy_config.write(settings, envoy_config.descriptor_path())
    envoy_config.validate(path)  # Envoy itself accepts it
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    return config


def managers(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        listener["name"]: listener["filter_chains"][0]["filters"][0]["typed_config"]
        for listener in config["static_resources"]["listeners"]
    }


def clusters(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in config["static_resources"]["clusters"]}


def test_no_tracing_unless_a_collector_is_configured(tmp_path: Path) -> None:
    config = rendered(tmp_path)
    assert all(m.get("tracing") is None for m in managers(config).values())
    assert "otlp" not in clusters(config)


def test_both_listeners_trace_to_the_collector(tmp_path: Path) -> None:
    config = rendered(tmp_path, otlp_endpoint="127.0.0.1:4317")
    for name in ("rest", "grpc"):
        provider = managers(config)[name]["tracing"]["provider"]
        assert provider["name"] == "envoy.tracers.opentelemetry"
        assert provider["typed_config"]["grpc_service"]["envoy_grpc"]["cluster_name"] == "otlp"
    otlp = clusters(config)["otlp"]
    address = otlp["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"] == {"address": "127.0.0.1", "port_value": 4317}


def test_kubernetes_upstreams_by_dns_and_a_stats_only_listener(tmp_path: Path) -> None:
    config = rendered(
        tmp_path,
        envoy_api_upstream="paygate-api:50061",
        envoy_web_upstream="paygate-web:50058",
        envoy_stripe_upstream="paygate-stripe:50057",
        envoy_stats_port=9902,
    )
    found = clusters(config)
    assert {found[name]["type"] for name in ("api", "web", "stripe")} == {"STRICT_DNS"}
    (stripe,) = found["stripe"]["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert stripe["endpoint"]["address"]["socket_address"] == {
        "address": "paygate-stripe",
        "port_value": 50057,
    }
    stats = managers(config)["stats"]
    routes = stats["route_config"]["virtual_hosts"][0]["routes"]
    assert {r["match"]["path"] for r in routes} == {"/stats/prometheus", "/ready"}
    assert all(r["route"]["cluster"] == "envoy_admin" for r in routes)
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
