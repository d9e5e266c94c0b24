"""Traces of a payment through a real in-process gRPC server, into an in-memory exporter:
the server span carries the request id, the acquirer call is a child of it, and no
attribute or event of any span holds card data (adapters/observability/tracing.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from paygate.v1 import (
    payment_intents_pb2,
    payment_intents_pb2_grpc,
    tokens_pb2,
    tokens_pb2_grpc,
)

from adapters.observability import tracing
from servers.roles.api import start
from tests.fakes import in_memory_app

PAN = "4242424242424242"
DECLINED_PAN = "4000000000000002"
CVC = "731"


@pytest.fixture
async def channel(
    span_exporter: InMemorySpanExporter,
) -> AsyncIterator[tuple[grpc.aio.Channel, str]]:
    app = in_memory_app()
    seeded = await app.api_keys.seed_merchant("Shop")
    server, _, port = await start(app, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
            yield chan, seeded.secret_key.plaintext
    finally:
        await server.stop(None)
        await app.aclose()


async def pay(chan: grpc.aio.Channel, key: str, number: str, request_id: str) -> grpc.StatusCode:
    auth = (("authorization", f"Bearer {key}"), ("x-request-id", request_id))
    card = tokens_pb2.CardInput(number=number, exp_month=12, exp_year=2040, cvc=CVC)
    token = await tokens_pb2_grpc.TokenServiceStub(chan).CreateToken(
        tokens_pb2.CreateTokenRequest(card=card), metadata=auth
    )
    intents = payment_intents_pb2_grpc.PaymentIntentServiceStub(chan)
    intent = await intents.CreatePaymentIntent(
        payment_intents_pb2.CreatePaymentIntentRequest(amount=2500, currency="eur"), metadata=auth
    )
    request = payment_intents_pb2.ConfirmPaymentIntentRequest(id=intent.id, payment_method=token.id)
    try:
        await intents.ConfirmPaymentIntent(request, metadata=auth)
    except grpc.aio.AioRpcError as error:  # the declined card
        return error.code()
    return grpc.StatusCode.OK


def everything_recorded(span: ReadableSpan) -> list[str]:
    texts = [span.name, *map(str, (span.attributes or {}).values())]
    for event in span.events:
        texts += [event.name, *map(str, (event.attributes or {}).values())]
    texts.append(span.status.description or "")
    return texts


async def test_a_payment_is_one_trace_from_the_server_span_to_the_acquirer_call(
    channel: tuple[grpc.aio.Channel, str], span_exporter: InMemorySpanExporter
) -> None:
    chan, key = channel
    assert await pay(chan, key, PAN, "req_trace_test_1") == grpc.StatusCode.OK

    spans = span_exporter.get_finished_spans()
    servers = {s.name: s for s in spans if s.kind.name == "SERVER"}
    confirm = servers["/paygate.v1.PaymentIntentService/ConfirmPaymentIntent"]
    assert confirm.attributes is not None
    assert confirm.attributes["paygate.request_id"] == "req_trace_test_1"
    assert confirm.attributes["rpc.grpc.status_code"] == 0
    authorize = next(s for s in spans if s.name == "acquirer.authorize")
    assert authorize.context is not None and confirm.context is not None
    assert authorize.context.trace_id == confirm.context.trace_id
    assert authorize.parent is not None and authorize.parent.span_id == confirm.context.span_id
    # Health checks are not traced: Envoy's every few seconds would drown the payments.
    assert not any("grpc.health" in s.name for s in spans)


async def test_no_span_holds_card_data(
    channel: tuple[grpc.aio.Channel, str], span_exporter: InMemorySpanExporter
) -> None:
    chan, key = channel
    assert await pay(chan, key, PAN, "req_trace_test_2") == grpc.StatusCode.OK
    assert await pay(chan, key, DECLINED_PAN, "req_trace_test_3") != grpc.StatusCode.OK

    spans = span_exporter.get_finished_spans()
    assert any(s.name.endswith("/CreateToken") for s in spans)  # the PAN went through
    for span in spans:
        for text in everything_recorded(span):
            assert PAN not in text and DECLINED_PAN not in text, (span.name, text)
            assert text != CVC, span.name


def test_off_by_default_nothing_is_recorded() -> None:
    assert not tracing.enabled()
    assert tracing.server_interceptors() == []
    with tracing.phase("unit_of_work") as span:
        assert span is None


def test_spans_dir_gets_each_span_as_a_json_line(tmp_path: Path) -> None:
    tracing.configure("worker", spans_dir=str(tmp_path))
    try:
        with tracing.phase("unit_of_work", {"phase": "confirm"}):
            pass
    finally:
        tracing.shutdown()
        tracing.reset()
    (written,) = tmp_path.glob("worker-*.jsonl")
    (line,) = written.read_text().splitlines()
    span = json.loads(line)
    assert span["name"] == "unit_of_work" and span["attributes"] == {"phase": "confirm"}
    assert span["resource"]["attributes"]["service.name"] == "paygate-worker"
