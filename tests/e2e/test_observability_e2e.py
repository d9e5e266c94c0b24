"""Metrics and traces of the real process group: after a few payments through Envoy, the
API processes' /metrics show the counters moving, Envoy's own stats count the upstream
requests, and one payment's trace runs from Envoy's span through the API process's server
span and units of work down to its SQL statements and the acquirer call, all collected by
an OTLP collector written here (a gRPC TraceService on loopback). No span holds the PAN.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import running_gateway
from tests.e2e.gateway import Gateway
from tests.unit.observability.test_dashboard import envoy_names_in_dashboard

PAN = "4242424242424242"
DECLINED = "4000000000000002"


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every span it is sent, with its service's name."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, trace_pb2.Span]] = []
        self._lock = threading.Lock()

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._lock:
            for resource_spans in request.resource_spans:
                service = next(
                    (
                        a.value.string_value
                        for a in resource_spans.resource.attributes
                        if a.key == "service.name"
                    ),
                    "",
                )
                for scope in resource_spans.scope_spans:
                    self.spans += [(service, span) for span in scope.spans]
        return trace_service_pb2.ExportTraceServiceResponse()

    def snapshot(self) -> list[tuple[str, trace_pb2.Span]]:
        with self._lock:
            return list(self.spans)


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[Collector, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = Collector()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, port
    finally:
        server.stop(None)


@pytest.fixture(scope="module")
def traced_gateway(
    gateway_database_url: str, redis_url: str, collector: tuple[Collector, int]
) -> Iterator[Gateway]:
    _, port = collector
    with running_gateway(
        gateway_database_url, redis_url=redis_url, otlp_endpoint=f"127.0.0.1:{port}"
    ) as running:
        yield running


def pay(http: httpx.Client, gateway: Gateway, number: str, request_id: str) -> httpx.Response:
    secret = {"Authorization": f"Bearer {gateway.secret_key}"}
    token = http.post(
        "/v1/tokens",
        headers={"Authorization": f"Bearer {gateway.publishable_key}"},
        json={"card": {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"}},
    )
    assert token.status_code == 200, token.text
    intent = http.post(
        "/v1/payment_intents", headers=secret, json={"amount": 1500, "currency": "eur"}
    )
    assert intent.status_code == 200, intent.text
    return http.post(
        f"/v1/payment_intents/{intent.json()['id']}/confirm",
        headers={**secret, "Idempotency-Key": str(uuid.uuid4()), "x-request-id": request_id},
        json={"payment_method": token.json()["id"]},
    )


def samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(urls: list[str], name: str, **labels: str) -> float:
    """`name` summed over the processes at `urls`, over the series matching `labels`."""
    found = 0.0
    for url in urls:
        for (sample, have), value in samples(url).items():
            if sample == name and set(labels.items()) <= have:
                found += value
    return found


def test_a_scrape_after_a_few_payments_shows_the_counters_moving(
    traced_gateway: Gateway,
) -> None:
    gateway = traced_gateway
    apis = [url for name, url in gateway.metrics_urls.items() if name.startswith("api-")]
    assert len(apis) == 2 and "worker" in gateway.metrics_urls
    confirms = dict(method="ConfirmPaymentIntent", code="OK")
    rpc = "paygate_rpc_duration_seconds_count"
    before = total(apis, rpc, **confirms)
    captured_before = total(apis, "paygate_payment_attempts_total", status="captured")
    declined_before = total(
        apis, "paygate_payment_attempts_total", status="failed", decline_code="generic_decline"
    )
    envoy_before = total([gateway.metrics_urls["envoy"]], "envoy_cluster_upstream_rq_total")

    with httpx.Client(base_url=gateway.rest_url, timeout=30) as http:
        for i in range(3):
            assert pay(http, gateway, PAN, f"req_metrics_{i}").status_code == 200
        declined = pay(http, gateway, DECLINED, "req_metrics_declined")
        assert "CARD_DECLINED" in declined.text, declined.text

    assert total(apis, rpc, **confirms) - before == 3
    assert total(apis, "paygate_payment_attempts_total", status="captured") - captured_before == 3
    assert (
        total(
            apis, "paygate_payment_attempts_total", status="failed", decline_code="generic_decline"
        )
        - declined_before
        == 1
    )
    assert total(apis, "paygate_acquirer_call_duration_seconds_count", operation="authorize") >= 4
    assert total(apis, "paygate_db_pool_connections", state="size") == 2 * 5
    assert total(apis, "paygate_ready") == 2
    # Envoy's own stats, scraped from its admin port the same way, with every name the
    # Grafana dashboard (deploy/grafana/paygate.json) queries.
    assert total([gateway.metrics_urls["envoy"]], "envoy_cluster_upstream_rq_total") > envoy_before
    envoy_scrape = httpx.get(gateway.metrics_urls["envoy"], timeout=5).text
    assert {n for n in envoy_names_in_dashboard() if n not in envoy_scrape} == set()
    worker = gateway.metrics_urls["worker"]
    deadline = time.monotonic() + 30
    while not total([worker], "paygate_job_runs_total", outcome="ok"):
        assert time.monotonic() < deadline, "the worker ran no job batch"
        time.sleep(0.5)
    probes = worker.removesuffix("/metrics")
    assert httpx.get(f"{probes}/readyz").status_code == 200
    assert httpx.get(f"{probes}/livez").status_code == 200


def test_the_stripe_process_has_its_own_metrics_and_probes(traced_gateway: Gateway) -> None:
    stripe = traced_gateway.metrics_urls["stripe"]
    assert total([stripe], "paygate_process_info", role="stripe") == 1
    assert total([stripe], "process_resident_memory_bytes") > 0
    probes = stripe.removesuffix("/metrics")
    assert httpx.get(f"{probes}/readyz", timeout=5).status_code == 200
    assert httpx.get(f"{probes}/livez", timeout=5).status_code == 200


def test_one_payment_is_one_trace_from_envoy_to_sql(
    traced_gateway: Gateway, collector: tuple[Collector, int]
) -> None:
    spans, _ = collector
    gateway = traced_gateway
    with httpx.Client(base_url=gateway.rest_url, timeout=30) as http:
        confirmed = pay(http, gateway, PAN, "req_ignored_at_the_edge")
    assert confirmed.status_code == 200, confirmed.text
    path = f"/v1/payment_intents/{confirmed.json()['id']}/confirm"

    def attributes(span: trace_pb2.Span) -> dict[str, str]:
        return {a.key: a.value.string_value for a in span.attributes}

    def edge_and_server() -> tuple[trace_pb2.Span, trace_pb2.Span] | None:
        collected = spans.snapshot()
        edge = next(
            (
                span
                for s, span in collected
                if s == "paygate-envoy" and path in attributes(span).get("http.url", "")
            ),
            None,
        )
        if edge is None:
            return None
        server = next(
            (
                span
                for s, span in collected
                if s == "paygate-api" and span.parent_span_id == edge.span_id
            ),
            None,
        )
        return None if server is None else (edge, server)

    deadline = time.monotonic() + 30  # the processes export in batches (every 5 s)
    while (found := edge_and_server()) is None:
        got = sorted({(s, span.name) for s, span in spans.snapshot()})
        assert time.monotonic() < deadline, f"no trace of the confirm: {got[:40]}"
        time.sleep(0.5)
    edge, server = found
    assert server.name == "/paygate.v1.PaymentIntentService/ConfirmPaymentIntent"
    # The request id Envoy made at the edge is the one the API process logged and traced.
    assert attributes(server)["paygate.request_id"] == attributes(edge)["guid:x-request-id"]

    def trace_of() -> list[tuple[str, trace_pb2.Span]]:
        return [(s, span) for s, span in spans.snapshot() if span.trace_id == server.trace_id]

    in_trace = trace_of()
    by_id = {span.span_id: span for _, span in in_trace}

    def descends_from_server(span: trace_pb2.Span) -> bool:
        while span.parent_span_id:
            if span.parent_span_id == server.span_id:
                return True
            parent = by_id.get(span.parent_span_id)
            if parent is None:
                return False
            span = parent
        return False

    names = [span.name for _, span in in_trace if descends_from_server(span)]
    assert any(n.startswith("unit_of_work") for n in names), names
    assert "acquirer.authorize" in names, names
    statements = [
        a.value.string_value
        for _, span in in_trace
        if descends_from_server(span)
        for a in span.attributes
        if a.key == "db.statement"
    ]
    # The attempt's update rides in one statement with its intent's (WITH saved AS
    # (UPDATE payment_intents ...) UPDATE payment_attempts ...): its text names both.
    assert any("UPDATE payment_attempts" in s for s in statements), statements
    for _, span in spans.snapshot():
        for a in span.attributes:
            assert PAN not in str(a.value), (span.name, a.key)
