"""OpenTelemetry traces: off unless an OTLP collector is configured.

    configure("api", "127.0.0.1:4317")   # once, before the engine and the server exist
    with phase("sql.transaction"): ...   # a span when tracing is on, nothing otherwise

What a payment's trace holds (docs/operations.md#traces): Envoy's span, the gRPC server
span of the API process (with the request id), a span per unit of work (each one
transaction: the phases of a payment around its acquirer call), the SQL statements in
it, and the call to the acquirer. No card data in any attribute: SQL spans carry the
statement text with its placeholders ($1, $2), never the parameters
(opentelemetry-instrumentation-sqlalchemy records none, and the SQL commenter is off);
spans of our own take only identifiers and closed-set values; the gRPC spans record no
request or response body. tests/unit/observability/test_tracing.py holds it to that.

Off, `phase` costs one global read: no span objects, no context switch on the hot path.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

if TYPE_CHECKING:  # the SDK is imported only when tracing is turned on
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

_state: dict[str, Any] = {"tracer": None, "provider": None, "instrumentors": [], "file": None}

HEALTH_SERVICE = "grpc.health.v1.Health"


def enabled() -> bool:
    return _state["tracer"] is not None


def configure(
    service: str,
    otlp_endpoint: str = "",
    *,
    exporter: SpanExporter | None = None,
    spans_dir: str = "",
) -> TracerProvider | None:
    """Turns tracing on for this process when `otlp_endpoint` (host:port of an OTLP/gRPC
    collector), `spans_dir` or a test's `exporter` is given; otherwise does nothing at all.

    Installs the instrumentations: SQLAlchemy (every engine created from now on), the
    gRPC clients (acquirer and vault channels) and httpx (webhooks). A test's exporter
    and the spans file get every span at once, and the process-wide provider is left
    alone (reset() undoes the rest)."""
    if spans_dir and exporter is None:
        exporter = _file_exporter(Path(spans_dir), service)
    if not otlp_endpoint and exporter is None:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"paygate-{service}"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True))
        )
        trace.set_tracer_provider(provider)
    _state["instrumentors"] = _instrument_libraries(provider)
    _state["provider"] = provider
    _state["tracer"] = provider.get_tracer("paygate")
    return provider


def _file_exporter(directory: Path, service: str) -> SpanExporter:
    """Each span as one JSON line in <directory>/<service>-<pid>.jsonl: a file per
    process, so that no two processes interleave their lines (tests read them back)."""
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    directory.mkdir(parents=True, exist_ok=True)
    out = (directory / f"{service}-{os.getpid()}.jsonl").open("a", buffering=1)
    _state["file"] = out  # closed by shutdown() or reset()
    return ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n")


def reset() -> None:
    """Tracing off again, the libraries uninstrumented (tests)."""
    for instrumentor in _state["instrumentors"]:
        instrumentor.uninstrument()
    _close_file()
    _state.update(tracer=None, provider=None, instrumentors=[])


def _close_file() -> None:
    out = _state["file"]
    if out is not None:
        out.close()
        _state["file"] = None


def _instrument_libraries(provider: TracerProvider) -> list[Any]:
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    sql = SQLAlchemyInstrumentor()
    # enable_commenter stays off: it would write trace ids into the SQL text. The
    # instrumentation declares SQLAlchemy < 2.1 but works on 2.1's unchanged engine events
    # (tests/contract/test_observability_postgres.py proves the spans), hence the skip.
    sql.instrument(tracer_provider=provider, enable_commenter=False, skip_dep_check=True)
    grpc_client = GrpcAioInstrumentorClient()  # type: ignore[no-untyped-call]
    grpc_client.instrument(tracer_provider=provider)
    http = HTTPXClientInstrumentor()
    http.instrument(tracer_provider=provider)
    return [sql, grpc_client, http]


def server_interceptors() -> list[Any]:
    """The gRPC server's tracing interceptor (first in the chain), or none when off. It
    continues the trace Envoy started (W3C traceparent) and skips health checks."""
    if not enabled():
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor
    from opentelemetry.instrumentation.grpc.filters import negate, service_name

    skip_health = negate(service_name(HEALTH_SERVICE))
    interceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=_state["provider"], filter_=skip_health
    )
    return [interceptor]


@contextlib.contextmanager
def phase(name: str, attributes: Mapping[str, str | int] | None = None) -> Iterator[Any]:
    """A span named `name` around the block when tracing is on; yields it (or None)."""
    tracer = _state["tracer"]
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes=attributes) as span:
        yield span


def annotate(key: str, value: str) -> None:
    """Sets an attribute on the current span (the gRPC server's, in a call)."""
    if _state["tracer"] is not None:
        trace.get_current_span().set_attribute(key, value)


def shutdown() -> None:
    """Flushes the spans still buffered (at process exit)."""
    provider = _state["provider"]
    if provider is not None:
        provider.shutdown()
    _close_file()
