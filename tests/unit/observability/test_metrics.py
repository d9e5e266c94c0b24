"""The metrics module (adapters/observability/metrics.py) and the wrappers that feed it:
a payment through a real in-process gRPC server moves the RPC, attempt and acquirer
metrics; refusals, webhook results and job runs land under their documented names."""

from __future__ import annotations

import grpc
import pytest
from paygate.v1 import payment_intents_pb2, payment_intents_pb2_grpc, tokens_pb2, tokens_pb2_grpc
from prometheus_client import CollectorRegistry, generate_latest

from adapters.observability.metered import MeteredAcquirer, MeteredRateLimiter
from adapters.observability.metrics import Metrics, process_metrics
from core.access.ports import RateLimitResult
from core.payments.acquirer import AcquirerTimeout
from servers.roles.api import start
from tests.fakes import in_memory_app


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return found or 0.0


async def test_a_payment_moves_the_rpc_attempt_and_acquirer_metrics() -> None:
    app = in_memory_app()
    metrics = app.metrics
    seeded = await app.api_keys.seed_merchant("Shop")
    server, _, port = await start(app, "127.0.0.1:0")
    auth = (("authorization", f"Bearer {seeded.secret_key.plaintext}"),)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
            intents = payment_intents_pb2_grpc.PaymentIntentServiceStub(chan)
            for number in ("4242424242424242", "4000000000000002"):
                card = tokens_pb2.CardInput(number=number, exp_month=12, exp_year=2040)
                token = await tokens_pb2_grpc.TokenServiceStub(chan).CreateToken(
                    tokens_pb2.CreateTokenRequest(card=card), metadata=auth
                )
                intent = await intents.CreatePaymentIntent(
                    payment_intents_pb2.CreatePaymentIntentRequest(amount=900, currency="usd"),
                    metadata=auth,
                )
                request = payment_intents_pb2.ConfirmPaymentIntentRequest(
                    id=intent.id, payment_method=token.id
                )
                try:
                    await intents.ConfirmPaymentIntent(request, metadata=auth)
                except grpc.aio.AioRpcError as error:
                    declined = error.code().name
    finally:
        await server.stop(None)
        await app.aclose()

    service = "paygate.v1.PaymentIntentService"
    rpc = "paygate_rpc_duration_seconds_count"
    assert value(metrics, rpc, service=service, method="CreatePaymentIntent", code="OK") == 2
    assert value(metrics, rpc, service=service, method="ConfirmPaymentIntent", code="OK") == 1
    assert value(metrics, rpc, service=service, method="ConfirmPaymentIntent", code=declined) == 1
    attempts = "paygate_payment_attempts_total"
    labels = {"method": "card", "currency": "usd"}
    assert value(metrics, attempts, status="captured", decline_code="", **labels) == 1
    assert value(metrics, attempts, status="processing", decline_code="", **labels) == 2
    declines = {"status": "failed", "decline_code": "generic_decline"}
    assert value(metrics, attempts, **declines, **labels) == 1
    # The risk engine assessed both confirms (core.risk.ports.RiskObserver).
    decisions = "paygate_risk_decisions_total"
    assert value(metrics, decisions, decision="allow", livemode="false") == 2
    assert value(metrics, "paygate_risk_score_count") == 2
    calls = "paygate_acquirer_call_duration_seconds_count"
    assert (
        value(
            metrics, calls, acquirer="card_network_simulator", operation="authorize", outcome="ok"
        )
        == 2
    )


class Refusing:
    async def hit(self, key: str, limit: str) -> RateLimitResult:
        return RateLimitResult(allowed=False, retry_after_seconds=1)


async def test_rate_limit_refusals_are_counted_by_class_and_scope_never_by_who() -> None:
    metrics = Metrics(CollectorRegistry())
    limiter = MeteredRateLimiter(Refusing(), metrics)
    await limiter.hit("payments_create:acct:acct_123", "10/second")
    await limiter.hit("signup:ip:127.0.0.9", "10/hour")
    name = "paygate_rate_limit_refusals_total"
    assert value(metrics, name, limit_class="payments_create", scope="acct") == 1
    assert value(metrics, name, limit_class="signup", scope="ip") == 1
    text = generate_latest(metrics.registry).decode()
    assert "acct_123" not in text and "127.0.0.9" not in text


def test_webhook_results_jobs_and_the_pool_under_their_names() -> None:
    metrics = process_metrics("worker")
    metrics.record_webhook(204, 0.05)
    metrics.record_webhook(503, 0.2)
    metrics.record_webhook(0, 10.0)
    metrics.record_webhook_queue(7, 42.0)
    metrics.record_job("payments.poll_upi", handled=3, failed=False, seconds=0.1)
    metrics.record_job("payments.poll_upi", handled=0, failed=True, seconds=0.1)
    metrics.watch_pool("payments", lambda: {"size": 10, "checked_out": 2, "idle": 8})
    assert value(metrics, "paygate_webhook_deliveries_total", result="2xx") == 1
    assert value(metrics, "paygate_webhook_deliveries_total", result="5xx") == 1
    assert value(metrics, "paygate_webhook_deliveries_total", result="no_response") == 1
    assert value(metrics, "paygate_webhook_queue_depth") == 7
    assert value(metrics, "paygate_job_runs_total", job="payments.poll_upi", outcome="ok") == 1
    assert value(metrics, "paygate_job_runs_total", job="payments.poll_upi", outcome="failed") == 1
    assert value(metrics, "paygate_job_items_total", job="payments.poll_upi") == 3
    assert value(metrics, "paygate_job_last_success_timestamp_seconds", job="payments.poll_upi")
    pool = "paygate_db_pool_connections"
    assert value(metrics, pool, pool="payments", state="checked_out") == 2
    assert value(metrics, "paygate_process_info", role="worker") == 1
    assert metrics.registry.get_sample_value("paygate_key_changes_listening") is None
    listening = [False]
    metrics.watch_key_changes(lambda: listening[0])  # a role that authenticates API keys
    assert value(metrics, "paygate_key_changes_listening") == 0
    listening[0] = True
    assert value(metrics, "paygate_key_changes_listening") == 1
    assert value(metrics, "process_open_fds") > 0


class Silent:
    """An acquirer whose every lookup times out (outcome unknown)."""

    async def lookup(self, attempt_reference: str) -> None:
        raise AcquirerTimeout(attempt_reference)


async def test_acquirer_errors_are_counted_by_outcome() -> None:
    metrics = Metrics(CollectorRegistry())
    acquirer = MeteredAcquirer("card_network_simulator", Silent(), metrics)  # type: ignore[arg-type]
    with pytest.raises(AcquirerTimeout):
        await acquirer.lookup("pa_1")
    name = "paygate_acquirer_call_duration_seconds_count"
    labels = {"acquirer": "card_network_simulator", "operation": "lookup"}
    assert value(metrics, name, outcome="timeout", **labels) == 1
    assert value(metrics, name, outcome="ok", **labels) == 0
