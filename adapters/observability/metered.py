"""Ports wrapped so that every call through them is counted (and traced when tracing is
on): the acquirers, the webhook sender and the rate limiter. The composition root wraps
the real adapters; the adapters themselves know nothing of Prometheus, so a new acquirer
connector is measured the moment it is routed to.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping

from adapters.observability import tracing
from adapters.observability.metrics import Metrics
from core.access.ports import RateLimiter, RateLimitResult
from core.events.ports import SendResult, WebhookSender
from core.events.ssrf import Destination
from core.payments.acquirer import (
    Acquirer,
    AcquirerRejected,
    AcquirerTimeout,
    AcquirerUnavailable,
    AuthorizationResult,
    CaptureRequest,
    OperationResult,
    RefundRequest,
    VoidRequest,
)
from core.payments.acquirer import (
    AuthorizationRequest as AuthRequest,
)


def _outcome(error: BaseException) -> str:
    if isinstance(error, AcquirerRejected):
        return "rejected"
    if isinstance(error, AcquirerTimeout):
        return "timeout"
    if isinstance(error, AcquirerUnavailable):
        return "unavailable"
    return "error"


class MeteredAcquirer:
    """An Acquirer whose calls are timed by outcome and, traced, are a span each."""

    def __init__(self, name: str, inner: Acquirer, metrics: Metrics) -> None:
        self._name = name
        self.inner = inner  # the acquirer measured
        self._metrics = metrics

    async def authorize(self, request: AuthRequest) -> AuthorizationResult:
        with self._measure("authorize", request.attempt_reference):
            return await self.inner.authorize(request)

    async def complete_challenge(self, attempt_reference: str, passed: bool) -> AuthorizationResult:
        with self._measure("complete_challenge", attempt_reference):
            return await self.inner.complete_challenge(attempt_reference, passed)

    async def lookup(self, attempt_reference: str) -> AuthorizationResult | None:
        with self._measure("lookup", attempt_reference):
            return await self.inner.lookup(attempt_reference)

    async def capture(self, request: CaptureRequest) -> OperationResult:
        with self._measure("capture", request.attempt_reference):
            return await self.inner.capture(request)

    async def void(self, request: VoidRequest) -> OperationResult:
        with self._measure("void", request.attempt_reference):
            return await self.inner.void(request)

    async def refund(self, request: RefundRequest) -> OperationResult:
        with self._measure("refund", request.attempt_reference):
            return await self.inner.refund(request)

    def __getattr__(self, name: str) -> object:
        # What an acquirer offers beyond the port (a simulator's challenge_url) passes through.
        return getattr(self.inner, name)

    @contextlib.contextmanager
    def _measure(self, operation: str, reference: str) -> Iterator[None]:
        attributes = {"paygate.acquirer": self._name, "paygate.attempt": reference}
        started = time.perf_counter()
        outcome = "error"
        try:
            with tracing.phase(f"acquirer.{operation}", attributes):
                yield
            outcome = "ok"
        except BaseException as error:
            outcome = _outcome(error)
            raise
        finally:
            seconds = time.perf_counter() - started
            self._metrics.record_acquirer_call(self._name, operation, outcome, seconds)


def metered_acquirers(acquirers: Mapping[str, Acquirer], metrics: Metrics) -> dict[str, Acquirer]:
    return {name: MeteredAcquirer(name, a, metrics) for name, a in acquirers.items()}


class MeteredSender:
    """A WebhookSender whose requests are counted by result."""

    def __init__(self, inner: WebhookSender, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def send(
        self, destination: Destination, headers: Mapping[str, str], body: bytes, within: float
    ) -> SendResult:
        result = await self._inner.send(destination, headers, body, within)
        self._metrics.record_webhook(result.status_code, result.latency_ms / 1000)
        return result


class MeteredRateLimiter:
    """A RateLimiter whose refusals are counted by class and scope."""

    def __init__(self, inner: RateLimiter, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def hit(self, key: str, limit: str) -> RateLimitResult:
        result = await self._inner.hit(key, limit)
        if not result.allowed:
            self._metrics.record_rate_limit_refusal(key)
        return result
