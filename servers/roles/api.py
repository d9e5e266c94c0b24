"""The API role: a grpc.aio server with the public services, reflection and health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from paygate.v1 import (
    analytics_pb2,
    analytics_pb2_grpc,
    api_keys_pb2,
    api_keys_pb2_grpc,
    audit_log_pb2,
    audit_log_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    balance_pb2,
    balance_pb2_grpc,
    business_profile_pb2,
    business_profile_pb2_grpc,
    checkout_pages_pb2,
    checkout_pages_pb2_grpc,
    dashboard_pages_pb2,
    dashboard_pages_pb2_grpc,
    disputes_pb2,
    disputes_pb2_grpc,
    events_pb2,
    events_pb2_grpc,
    members_pb2,
    members_pb2_grpc,
    options_pb2,
    payment_intents_pb2,
    payment_intents_pb2_grpc,
    payment_methods_pb2,
    payment_methods_pb2_grpc,
    payouts_pb2,
    payouts_pb2_grpc,
    refunds_pb2,
    refunds_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
    settlements_pb2,
    settlements_pb2_grpc,
    tokens_pb2,
    tokens_pb2_grpc,
    webhook_endpoints_pb2,
    webhook_endpoints_pb2_grpc,
)

from adapters.observability import tracing
from adapters.observability.metrics import process_metrics
from adapters.system import RandomIds
from core.access.gate import AccessGate, Requirement
from servers.bootstrap.app import App, build_app
from servers.grpc import serve as serve_grpc
from servers.grpc.idempotency import IdempotentCalls, idempotent_methods
from servers.grpc.interceptors import Access, CallInterceptor
from servers.grpc.serve import Hosted, Server, serve_until_signalled
from servers.grpc.servicers.api_keys import ApiKeyService
from servers.grpc.servicers.auth import AuthService
from servers.grpc.servicers.dashboard import (
    AnalyticsService,
    AuditLogService,
    BusinessProfileService,
)
from servers.grpc.servicers.events import EventService, WebhookEndpointService
from servers.grpc.servicers.ledger import (
    BalanceService,
    DisputeService,
    PayoutService,
    SettlementService,
)
from servers.grpc.servicers.members import MemberService
from servers.grpc.servicers.payment_intents import PaymentIntentService
from servers.grpc.servicers.payment_methods import PaymentMethodService
from servers.grpc.servicers.refunds import RefundService
from servers.grpc.servicers.risk import RiskService
from servers.grpc.servicers.tokens import TokenService
from servers.roles.web.servicer import CheckoutPageService, DashboardPageService
from servers.runtime import gc_pauses, logging_setup, operability
from servers.runtime.envoy_config import API_MAX_METADATA_BYTES, MAX_REQUEST_BODY_BYTES
from servers.runtime.settings import Settings

log = logging.getLogger("paygate.server")

# Seconds in-flight calls get to finish after SIGTERM before they are cancelled.
GRACE_SECONDS = 10.0
# How often the API keys' usage counted in memory is written (ApiKeys.flush_usage).
USAGE_FLUSH_SECONDS = 5.0


@dataclass(frozen=True)
class Service:
    descriptor: ServiceDescriptor
    register: Callable[[Any, grpc.aio.Server], None]
    build: Callable[[App], Any]


SERVICES = (
    Service(
        payment_intents_pb2.DESCRIPTOR.services_by_name["PaymentIntentService"],
        payment_intents_pb2_grpc.add_PaymentIntentServiceServicer_to_server,
        lambda app: PaymentIntentService(
            app.payment_intents, app.payments, app.intent_watch, app.checkout_base_url
        ),
    ),
    Service(
        refunds_pb2.DESCRIPTOR.services_by_name["RefundService"],
        refunds_pb2_grpc.add_RefundServiceServicer_to_server,
        lambda app: RefundService(app.refunds),
    ),
    Service(
        api_keys_pb2.DESCRIPTOR.services_by_name["ApiKeyService"],
        api_keys_pb2_grpc.add_ApiKeyServiceServicer_to_server,
        lambda app: ApiKeyService(app.api_keys),
    ),
    Service(
        auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
        auth_pb2_grpc.add_AuthServiceServicer_to_server,
        lambda app: AuthService(app.auth),
    ),
    Service(
        members_pb2.DESCRIPTOR.services_by_name["MemberService"],
        members_pb2_grpc.add_MemberServiceServicer_to_server,
        lambda app: MemberService(app.members),
    ),
    Service(
        tokens_pb2.DESCRIPTOR.services_by_name["TokenService"],
        tokens_pb2_grpc.add_TokenServiceServicer_to_server,
        lambda app: TokenService(app.vault),
    ),
    Service(
        payment_methods_pb2.DESCRIPTOR.services_by_name["PaymentMethodService"],
        payment_methods_pb2_grpc.add_PaymentMethodServiceServicer_to_server,
        lambda app: PaymentMethodService(app.vault),
    ),
    Service(
        balance_pb2.DESCRIPTOR.services_by_name["BalanceService"],
        balance_pb2_grpc.add_BalanceServiceServicer_to_server,
        lambda app: BalanceService(app.balances),
    ),
    Service(
        payouts_pb2.DESCRIPTOR.services_by_name["PayoutService"],
        payouts_pb2_grpc.add_PayoutServiceServicer_to_server,
        lambda app: PayoutService(app.payouts),
    ),
    Service(
        settlements_pb2.DESCRIPTOR.services_by_name["SettlementService"],
        settlements_pb2_grpc.add_SettlementServiceServicer_to_server,
        lambda app: SettlementService(app.settlements),
    ),
    Service(
        disputes_pb2.DESCRIPTOR.services_by_name["DisputeService"],
        disputes_pb2_grpc.add_DisputeServiceServicer_to_server,
        lambda app: DisputeService(app.disputes),
    ),
    Service(
        events_pb2.DESCRIPTOR.services_by_name["EventService"],
        events_pb2_grpc.add_EventServiceServicer_to_server,
        lambda app: EventService(app.events, poll_seconds=app.listen_poll_seconds),
    ),
    Service(
        webhook_endpoints_pb2.DESCRIPTOR.services_by_name["WebhookEndpointService"],
        webhook_endpoints_pb2_grpc.add_WebhookEndpointServiceServicer_to_server,
        lambda app: WebhookEndpointService(app.webhook_endpoints),
    ),
    Service(
        business_profile_pb2.DESCRIPTOR.services_by_name["BusinessProfileService"],
        business_profile_pb2_grpc.add_BusinessProfileServiceServicer_to_server,
        lambda app: BusinessProfileService(app.business_profiles),
    ),
    Service(
        analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"],
        analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server,
        lambda app: AnalyticsService(app.analytics),
    ),
    Service(
        audit_log_pb2.DESCRIPTOR.services_by_name["AuditLogService"],
        audit_log_pb2_grpc.add_AuditLogServiceServicer_to_server,
        lambda app: AuditLogService(app.audit_log),
    ),
    Service(
        risk_pb2.DESCRIPTOR.services_by_name["RiskService"],
        risk_pb2_grpc.add_RiskServiceServicer_to_server,
        lambda app: RiskService(app.risk_settings),
    ),
)


# What the web role serves (servers/roles/web/server.py), or the API processes themselves when
# there is no web role (Settings.web_port 0): pages for shoppers' browsers.
PAGE_SERVICES = (
    Service(
        checkout_pages_pb2.DESCRIPTOR.services_by_name["CheckoutPageService"],
        checkout_pages_pb2_grpc.add_CheckoutPageServiceServicer_to_server,
        lambda app: CheckoutPageService(app.challenges, app.checkout),
    ),
    Service(
        dashboard_pages_pb2.DESCRIPTOR.services_by_name["DashboardPageService"],
        dashboard_pages_pb2_grpc.add_DashboardPageServiceServicer_to_server,
        lambda app: DashboardPageService(),
    ),
)


# What the vault role serves to Envoy when it takes tokenization off the API processes
# (Settings.vault_public_listen): the same servicer behind the same interceptor chain.
TOKEN_SERVICES = tuple(s for s in SERVICES if s.descriptor.name == "TokenService")


def api_services(settings: Settings) -> tuple[Service, ...]:
    """The API role's services: the public API, and the pages without a web role."""
    return SERVICES if settings.web_port else SERVICES + PAGE_SERVICES


def method_access(services: tuple[Service, ...] = SERVICES) -> dict[str, options_pb2.Access]:
    """The (paygate.v1.access) option of every public method, by its full path."""
    access: dict[str, options_pb2.Access] = {}
    for service in services:
        for method in service.descriptor.methods:
            options = method.GetOptions()
            if options.HasExtension(options_pb2.access):
                path = f"/{service.descriptor.full_name}/{method.name}"
                access[path] = options.Extensions[options_pb2.access]
    return access


def requirements(
    gate: AccessGate, services: tuple[Service, ...] = SERVICES
) -> dict[str, Requirement]:
    """Each method's access option as core's Requirement; refuses to start on a bad one
    (an unknown permission or rate-limit class), rather than fail closed at call time."""
    found, problems = {}, []
    for path, access in method_access(services).items():
        requirement = Requirement(
            permission=access.permission,
            publishable=access.publishable,
            unauthenticated=access.unauthenticated,
            user_only=access.user_only,
            rate_limit_class=access.rate_limit_class,
        )
        problems += [f"{path}: {problem}" for problem in gate.check(requirement)]
        found[path] = requirement
    if problems:
        raise ValueError("bad (paygate.v1.access) options:\n" + "\n".join(problems))
    return found


_ids = RandomIds()


def _new_request_id() -> str:
    return _ids.new("req")


async def start(
    app: App, listen: str, services: tuple[Service, ...] = SERVICES
) -> tuple[grpc.aio.Server, health_aio.HealthServicer, int]:
    """Builds and starts a server of `services` (the API role's by default, the web
    role's PAGE_SERVICES) behind the whole interceptor chain; returns it, its health
    servicer and the bound port."""
    server = await start_server(app, listen, services)
    return server.as_tuple()


async def start_server(app: App, listen: str, services: tuple[Service, ...]) -> Server:
    call_layer = CallInterceptor(
        _new_request_id,
        app.metrics.rpc_recorder,
        access=Access(app.gate, requirements(app.gate, services), app.trusted_proxies),
        idempotency=IdempotentCalls(
            app.idempotency, idempotent_methods(s.descriptor for s in services)
        ),
    )
    hosted = [Hosted(s.descriptor.full_name, partial(s.register, s.build(app))) for s in services]
    return await serve_grpc.start(
        listen,
        hosted,
        wrappers=[call_layer],
        # Tracing's interceptor (when on) continues the trace around the wrapped handler.
        interceptors=tracing.server_interceptors(),
        options=[
            # One bound, not grpcio's soft/hard pair (8/16 KiB) between which it refuses
            # requests at random: Envoy's max_request_headers_kb is the edge's limit.
            ("grpc.max_metadata_size", API_MAX_METADATA_BYTES),
            ("grpc.absolute_max_metadata_size", API_MAX_METADATA_BYTES),
            ("grpc.max_receive_message_length", MAX_REQUEST_BODY_BYTES),
        ],
    )


async def run(settings: Settings, listen: str) -> None:
    """Serves until SIGTERM or SIGINT, then drains in-flight calls and closes the pool."""
    logging_setup.configure(settings.log_level, background=True)
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is required for `paygate serve` (paygate up sets it)")
    await serve(settings, listen, api_services(settings))


async def serve(settings: Settings, listen: str, services: tuple[Service, ...]) -> None:
    """Serves `services` until SIGTERM or SIGINT, then drains: health turns NOT_SERVING,
    watches end with their final message, in-flight calls get GRACE_SECONDS. Beside it:
    the readiness checks and the metrics port (servers/runtime/operability.py)."""
    role = "api" if services is not PAGE_SERVICES else "web"
    # Before the engine and channels exist.
    tracing.configure(role, settings.otlp_endpoint, spans_dir=settings.spans_dir)
    app = build_app(settings, settings.database_url, process_metrics(role))
    unwatch = gc_pauses.watch(app.metrics.record_gc_pause)
    try:
        async with (
            # The web role's pages take no API key: nothing of theirs to follow.
            authenticating(app, follow_changes=role == "api"),
            operability.watching(app, settings) as readiness,
        ):
            server = await start_server(app, listen, services)
            readiness.attach(server.health, server.names)
            await readiness.check_once()
            gc_pauses.freeze()  # before the first call: full collections stay short
            log.info(
                "serving",
                extra={"fields": {"listen": listen, "port": server.port, "services": server.names}},
            )
            await serve_until_signalled(server, grace=GRACE_SECONDS, on_drain=app.begin_shutdown)
    finally:
        unwatch()
        await app.aclose()
        tracing.shutdown()
        log.info("stopped")


@contextlib.asynccontextmanager
async def authenticating(app: App, *, follow_changes: bool = True) -> AsyncIterator[None]:
    """What runs beside a server that authenticates API keys: the feed of keys changed by
    other processes (which listens in the background; until it does, and whenever it is
    down, a cached key is trusted for up to KEY_CACHE_TTL), and the usage counts'
    flush, once more on the way out for what the last calls counted."""
    feed = app.key_changes
    if follow_changes and feed is not None:
        await feed.start()
        app.metrics.watch_key_changes(lambda: feed.listening)
    usage = asyncio.create_task(flush_usage_every(app))
    try:
        yield
    finally:
        usage.cancel()
        await flush_usage(app)


async def flush_usage_every(app: App, seconds: float = USAGE_FLUSH_SECONDS) -> None:
    while True:
        await asyncio.sleep(seconds)
        await flush_usage(app)


async def flush_usage(app: App) -> None:
    try:
        await app.api_keys.flush_usage()
    except Exception:  # the database is away: the counts wait for the next flush
        log.warning("could not write API key usage", exc_info=True)
