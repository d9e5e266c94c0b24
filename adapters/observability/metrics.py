"""The Prometheus metrics of one process, and the one place that names them.

Every process (API, worker, web) keeps its own registry and serves it on a port of its
own (servers/runtime/ops_http.py): Prometheus scrapes each process as a target, the way
it scrapes each pod in Kubernetes, and sums across them in queries. No shared directory,
no files to clean after a crash, no lock on the hot path (docs/operations.md#metrics).

Hooking in: an adapter or observer takes a `Metrics` and calls one of its `record_...`
methods; a new measurement gets its metric defined in `Metrics.__init__` and a method
here, so names, labels and buckets stay in one file and the Grafana dashboard
(deploy/grafana/paygate.json) can rely on them. Labels carry no merchant id and nothing
a caller typed: their values come from closed sets (methods, codes, statuses, currencies,
decline codes), so the series count stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.payments.breaker import BreakerState
from core.payments.model import PaymentAttempt
from core.risk.model import RiskAssessment

# Seconds: an RPC served from memory (~1 ms) to one held by a slow acquirer (10 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Seconds: a young collection (~0.1 ms) to a full one over a whole heap (~100 ms).
GC_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300)


_BREAKER_LEVEL = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class Metrics:
    """The metrics of one process, on `registry` (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry | None = None, role: str = "") -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.info = Gauge("paygate_process_info", "1 per process, by role", ["role"], registry=r)
        if role:
            self.info.labels(role).set(1)
        self.ready = Gauge(
            "paygate_ready",
            "1 while the process is ready for traffic (PostgreSQL reachable, schema current)",
            registry=r,
        )
        self.rpc_seconds = Histogram(
            "paygate_rpc_duration_seconds",
            "gRPC calls served, by method and status code",
            ["service", "method", "code"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.payment_attempts = Counter(
            "paygate_payment_attempts",
            "Changes of payment attempts, by the status saved, method, currency and decline code",
            ["status", "method", "currency", "decline_code"],
            registry=r,
        )
        self.acquirer_seconds = Histogram(
            "paygate_acquirer_call_duration_seconds",
            "Calls to acquirers, by operation and outcome (ok, rejected, timeout, unavailable,"
            " error)",
            ["acquirer", "operation", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "paygate_webhook_deliveries",
            "Webhook requests sent, by result (2xx, 4xx, 5xx, no_response)",
            ["result"],
            registry=r,
        )
        self.webhook_seconds = Histogram(
            "paygate_webhook_request_duration_seconds",
            "Webhook requests, time to the endpoint's answer",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.webhook_queue = Gauge(
            "paygate_webhook_queue_depth",
            "Webhook deliveries waiting (PENDING), as the worker last counted them",
            registry=r,
        )
        self.webhook_queue_lag = Gauge(
            "paygate_webhook_queue_lag_seconds",
            "How long the oldest due webhook delivery has been waiting",
            registry=r,
        )
        self.rate_limit_refusals = Counter(
            "paygate_rate_limit_refusals",
            "Calls refused by a rate limit, by class and what it counts (acct or ip)",
            ["limit_class", "scope"],
            registry=r,
        )
        self.job_runs = Counter(
            "paygate_job_runs", "Worker job batches, by job and outcome", ["job", "outcome"],
            registry=r,
        )  # fmt: skip
        self.job_items = Counter(
            "paygate_job_items", "Items the worker's jobs handled", ["job"], registry=r
        )
        self.job_seconds = Histogram(
            "paygate_job_duration_seconds", "Worker job batches", ["job"],
            buckets=JOB_BUCKETS, registry=r,
        )  # fmt: skip
        self.job_last_success = Gauge(
            "paygate_job_last_success_timestamp_seconds",
            "When each job last finished a batch without error; time() minus it is its lag",
            ["job"],
            registry=r,
        )
        self.risk_decisions = Counter(
            "paygate_risk_decisions",
            "Risk assessments of confirms, by decision (allow, review, block) and mode",
            ["decision", "livemode"],
            registry=r,
        )
        self.risk_rules = Counter(
            "paygate_risk_rules_fired", "Risk rules that added to a score, by rule", ["rule"],
            registry=r,
        )  # fmt: skip
        self.risk_scores = Histogram(
            "paygate_risk_score", "Risk scores (0-100) of confirms",
            buckets=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100), registry=r,
        )  # fmt: skip
        self.risk_velocity_unavailable = Counter(
            "paygate_risk_velocity_unavailable",
            "Assessments made without the velocity counters (their store was unreachable)",
            registry=r,
        )
        self.routed_payments = Counter(
            "paygate_routed_authorizations",
            "Authorizations by the routing rule that chose the acquirer (after any failover)",
            ["rule", "acquirer", "method"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "paygate_connector_breaker_state",
            "Each connector's circuit breaker: 0 closed, 1 half-open, 2 open",
            ["acquirer"],
            registry=r,
        )
        self.connector_tries = Counter(
            "paygate_connector_tries",
            "Tries of a connector along a route, by outcome (failover.TryOutcome)",
            ["acquirer", "operation", "outcome"],
            registry=r,
        )
        self.gc_pause_seconds = Histogram(
            "paygate_gc_pause_seconds",
            "Garbage collections of this process, by generation: the event loop stops for each",
            ["generation"],
            buckets=GC_BUCKETS,
            registry=r,
        )
        # A recorder per method, its histogram children bound once per status code.
        self._rpc_recorders: dict[str, RpcRecorder] = {}

    # -- gRPC ------------------------------------------------------------------------

    def rpc_recorder(self, method: str) -> RpcRecorder:
        """`record(code, seconds)` for the calls of `method`, the full path
        (/paygate.v1.PaymentIntentService/ConfirmPaymentIntent): bound once, so a call
        costs one dictionary lookup instead of prometheus_client's label checks and lock."""
        recorder = self._rpc_recorders.get(method)
        if recorder is None:
            recorder = self._rpc_recorders[method] = RpcRecorder(self.rpc_seconds, method)
        return recorder

    def record_gc_pause(self, generation: int, seconds: float) -> None:
        self.gc_pause_seconds.labels(str(generation)).observe(seconds)

    def record_rpc(self, method: str, code: str, seconds: float) -> None:
        self.rpc_recorder(method)(code, seconds)

    # -- payments --------------------------------------------------------------------

    def attempt_saved(self, attempt: PaymentAttempt) -> None:
        """core.payments.ports.PaymentObserver."""
        decline = attempt.error.decline_code if attempt.error is not None else ""
        self.payment_attempts.labels(
            attempt.status.value.lower(),
            attempt.payment_method_type,
            attempt.currency.lower(),
            decline,
        ).inc()

    def record_acquirer_call(
        self, acquirer: str, operation: str, outcome: str, seconds: float
    ) -> None:
        self.acquirer_seconds.labels(acquirer, operation, outcome).observe(seconds)

    # -- routing (core.payments.observer.PaymentsObserver) -----------------------------

    def routed(self, rule: str, acquirer: str, payment_method_type: str) -> None:
        self.routed_payments.labels(rule, acquirer, payment_method_type).inc()

    def breaker_changed(self, acquirer: str, state: BreakerState) -> None:
        self.breaker_state.labels(acquirer).set(_BREAKER_LEVEL[state])

    def connector_called(self, acquirer: str, operation: str, seconds: float, outcome: str) -> None:
        # The latency is the acquirer histogram's (MeteredAcquirer); this counts the tries.
        self.connector_tries.labels(acquirer, operation, outcome).inc()

    # -- webhooks --------------------------------------------------------------------

    def record_webhook(self, status_code: int, seconds: float) -> None:
        result = f"{status_code // 100}xx" if status_code else "no_response"
        self.webhook_deliveries.labels(result).inc()
        self.webhook_seconds.observe(seconds)

    def record_webhook_queue(self, depth: int, lag_seconds: float) -> None:
        self.webhook_queue.set(depth)
        self.webhook_queue_lag.set(lag_seconds)

    # -- access ----------------------------------------------------------------------

    def record_rate_limit_refusal(self, key: str) -> None:
        """`key` is the limiter's: `<class>:<acct|ip>:<who>`; who is not a label."""
        limit_class, _, rest = key.partition(":")
        scope = rest.partition(":")[0]
        self.rate_limit_refusals.labels(limit_class, scope).inc()

    # -- the worker ------------------------------------------------------------------

    def record_job(self, job: str, *, handled: int, failed: bool, seconds: float) -> None:
        self.job_runs.labels(job, "failed" if failed else "ok").inc()
        self.job_seconds.labels(job).observe(seconds)
        if not failed:
            self.job_items.labels(job).inc(handled)
            self.job_last_success.labels(job).set(time.time())

    # -- the risk engine (core.risk.ports.RiskObserver) ---------------------------------

    def assessed(self, assessment: RiskAssessment, *, livemode: bool) -> None:
        decision = assessment.decision.value.lower()
        self.risk_decisions.labels(decision, "true" if livemode else "false").inc()
        self.risk_scores.observe(assessment.score)
        for reason in assessment.reasons:
            self.risk_rules.labels(reason.rule).inc()

    def velocity_unavailable(self) -> None:
        self.risk_velocity_unavailable.inc()

    # -- resources read at scrape time ---------------------------------------------------

    def watch_pool(self, name: str, stats: Callable[[], PoolStats]) -> None:
        """The connection pool `name` (payments, vault), read when Prometheus scrapes."""
        self.registry.register(_PoolCollector(name, stats))

    def watch_key_changes(self, listening: Callable[[], bool]) -> None:
        """The API key change feed of a process that authenticates keys (only those have
        the gauge), read when Prometheus scrapes."""
        gauge = Gauge(
            "paygate_key_changes_listening",
            "1 while the process listens for API key changes; 0: a key changed elsewhere is"
            " trusted here for up to KEY_CACHE_TTL (5 s)",
            registry=self.registry,
        )
        gauge.set_function(lambda: 1.0 if listening() else 0.0)


class RpcRecorder:
    """Observes one method's calls into the RPC histogram, by status code."""

    def __init__(self, histogram: Histogram, method: str) -> None:
        self._histogram = histogram
        self._service, _, self._name = method.lstrip("/").rpartition("/")
        self._children: dict[str, Any] = {}

    def __call__(self, code: str, seconds: float) -> None:
        child = self._children.get(code)
        if child is None:
            child = self._children[code] = self._histogram.labels(self._service, self._name, code)
        child.observe(seconds)


def process_metrics(role: str) -> Metrics:
    """A process's metrics: paygate's, plus the process's CPU, memory and open files."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    registry.register(GC_COLLECTOR)
    return Metrics(registry, role=role)


PoolStats = dict[str, int]  # size, checked_out, idle, overflow


class _PoolCollector(Collector):
    def __init__(self, name: str, stats: Callable[[], PoolStats]) -> None:
        self._name = name
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "paygate_db_pool_connections",
            "Database connections of this process's pool, by state (size is the configured"
            " pool size; overflow may exceed it up to half again)",
            labels=["pool", "state"],
        )
        for state, value in self._stats().items():
            family.add_metric([self._name, state], value)
        yield family
