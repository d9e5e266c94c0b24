"""The composition root: builds adapters from settings and hands them to the use-cases."""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.acquirers.router import TableRouter
from adapters.auth.jwt_tokens import JwtCodec
from adapters.auth.passwords import Argon2Hasher
from adapters.auth.signing_keys import load_or_create_signing_key, load_signing_key
from adapters.crypto.secret_box import SecretBox
from adapters.mail.smtp import SmtpMailer, SmtpSettings
from adapters.memory.idempotency import MemoryIdempotencyStore
from adapters.memory.intent_changes import MemoryIntentChanges
from adapters.observability.metered import MeteredRateLimiter, MeteredSender, metered_acquirers
from adapters.observability.metrics import Metrics
from adapters.ratelimit import LimitsRateLimiter
from adapters.redis.event_stream import RedisEventStream
from adapters.sql.engine import create_engine, pool_stats
from adapters.sql.idempotency import SqlIdempotencyStore
from adapters.sql.intent_changes import PostgresIntentChanges
from adapters.sql.key_changes import PostgresKeyChanges
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from adapters.webhooks.http_sender import HttpxSender, SystemResolver
from core.access.audit_log import AuditLogReader
from core.access.authentication import Auth
from core.access.gate import AccessGate
from core.access.membership import Members
from core.access.ports import AccessTokenCodec, KeyChanges, PasswordHasher, RateLimiter
from core.access.rate_limits import DEFAULT_LIMITS, RateLimits
from core.access.use_cases import ApiKeys
from core.account.profile_cache import ProfileCache
from core.account.use_cases import BusinessProfiles
from core.analytics.use_cases import Analytics
from core.events.delivery import WebhookDispatcher
from core.events.maintenance import EventMaintenance
from core.events.model import SignatureScheme, WebhookPolicy, parse_schedule
from core.events.outbox import EventOutbox, PaymentOutbox, Recorders
from core.events.ssrf import UrlGuard, UrlPolicy
from core.events.ssrf import parse_networks as parse_webhook_networks
from core.events.use_cases import Events, WebhookEndpoints
from core.idempotency.use_cases import Idempotency
from core.ledger.balances import Balances
from core.ledger.disputes import Disputes
from core.ledger.hooks import LedgerHooks
from core.ledger.payment_postings import LedgerBookkeeping
from core.ledger.payouts import Payouts
from core.ledger.ports import DisputeDecisions
from core.ledger.settlement import SettlementBatch, Settlements
from core.ledger.terms_cache import TermsCache
from core.notifications.use_cases import Notifications
from core.payments.acquirer import AuthorizationResult, DisputeFeed
from core.payments.breaker import Breakers
from core.payments.challenges import Challenges
from core.payments.checkout import HostedCheckout
from core.payments.lifecycle import PaymentLifecycle
from core.payments.model import PaymentPolicy
from core.payments.observer import PaymentsObserver
from core.payments.ports import IntentChanges, VaultForPayments
from core.payments.refunds import Refunds
from core.payments.use_cases import PaymentIntents
from core.payments.watch import IntentWatch
from core.risk.overrides import RiskSettings
from core.risk.ports import RiskObserver
from core.shared.ports import Clock, IdGenerator
from core.unit_of_work import UnitOfWorkFactory
from core.vault.ports import VaultApi
from sandbox.acquirer.dispute_decisions import SimulatedDisputeDecisions
from servers.bootstrap.acquirers import AcquirerAccess
from servers.bootstrap.risk import risk_engine
from servers.bootstrap.routing import CARD_NETWORK, UPI_SWITCH, breaker_policy, routing_table
from servers.bootstrap.vault import VaultAccess, vault_access
from servers.bootstrap.zone import zone_access
from servers.grpc import context as call
from servers.grpc.client_address import LOOPBACK, IpNetwork, parse_networks
from servers.grpc.events_convert import ApiRenderer, CallContext
from servers.runtime.settings import Settings
from servers.stripe import render as stripe_render

log = logging.getLogger("paygate.app")

# The request-hash key when PAYGATE_IDEMPOTENCY_HASH_KEY is unset: fine for test mode on
# one machine, never for live card data (docs/idempotency.md).
DEVELOPMENT_HASH_KEY = b"paygate-development-idempotency-hash-key"

# Acquirer names, as attempts remember them: renaming one strands its attempts.

Closer = Callable[[], Awaitable[None]]


class IntentFeed(IntentChanges, Protocol):
    """An IntentChanges adapter, which the process closes when it shuts down."""

    async def aclose(self) -> None: ...


class KeyFeed(KeyChanges, Protocol):
    """A KeyChanges adapter, which a process that authenticates API keys starts (the
    roles' authenticating()) and closes when it shuts down."""

    @property
    def listening(self) -> bool: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


def in_process_idempotency() -> Idempotency:
    """Idempotency kept in this process: for tests and an App built by hand."""
    return Idempotency(MemoryIdempotencyStore(), SystemClock(), hash_key=DEVELOPMENT_HASH_KEY)


@dataclass
class App:
    api_keys: ApiKeys
    payment_intents: PaymentIntents
    payments: PaymentLifecycle
    refunds: Refunds
    auth: Auth
    members: Members
    gate: AccessGate
    # What the payments core detokenizes through: the vault in this process or its client.
    card_vault: VaultForPayments
    balances: Balances
    payouts: Payouts
    settlements: Settlements
    disputes: Disputes
    # For the worker role: the daily batches (settlement, payouts, disputes).
    settlement_batch: SettlementBatch
    # For the payment use-cases: post captures, refunds and disputes in their transaction.
    ledger_hooks: LedgerHooks
    # Where the card network announces disputes (read by the worker's ingestion job).
    dispute_feed: DisputeFeed
    # The 3-D Secure page (the web role) and WatchPaymentIntent.
    challenges: Challenges
    intent_watch: IntentWatch
    # The hosted checkout page (the web role), and the public URL it is served under
    # (every intent's checkout_url starts with it).
    checkout: HostedCheckout
    checkout_base_url: str
    # Events and webhooks: the API's, the worker's delivery and housekeeping.
    events: Events
    webhook_endpoints: WebhookEndpoints
    risk_settings: RiskSettings
    webhook_dispatcher: WebhookDispatcher
    event_maintenance: EventMaintenance
    event_outbox: EventOutbox
    # The dashboard's: business profile and onboarding, analytics, the audit log.
    business_profiles: BusinessProfiles
    analytics: Analytics
    audit_log: AuditLogReader
    # Receipts and alerts by email (the worker's notifications jobs).
    notifications: Notifications
    trusted_proxies: tuple[IpNetwork, ...] = LOOPBACK
    listen_poll_seconds: float = 0.25
    engine: AsyncEngine | None = None
    # This process's Prometheus metrics (servers/runtime/ops_http.py serves them).
    metrics: Metrics = field(default_factory=Metrics)
    idempotency: Idempotency = field(default_factory=in_process_idempotency)
    # The vault's public operations: in this process or a client of the vault role.
    vault: VaultApi | None = None
    vault_access: VaultAccess | None = None
    # The acquirers: the simulators in this process, or clients of the acquirer role.
    acquirers: AcquirerAccess | None = None
    # Closed in order by aclose(): the acquirers, the limiter's pool, the vault.
    closers: list[Closer] = field(default_factory=list)
    # Keys changed by other processes, for api_keys' cache: started by the roles that
    # authenticate API keys (servers/roles/api.py, authenticating()).
    key_changes: KeyFeed | None = None
    # Run first when the process begins to shut down, before in-flight calls drain: the
    # change feed ends every watch with a final message instead of a cut stream.
    stoppers: list[Closer] = field(default_factory=list)

    async def begin_shutdown(self) -> None:
        for stop in self.stoppers:
            await stop()

    async def aclose(self) -> None:
        await self.begin_shutdown()  # idempotent: nothing left to stop after a drain
        for close in self.closers:
            await close()
        if self.engine is not None:
            await self.engine.dispose()


def assemble(
    settings: Settings,
    uow: UnitOfWorkFactory,
    ids: IdGenerator,
    clock: Clock,
    *,
    card_vault: VaultForPayments,
    limiter: RateLimiter,
    hasher: PasswordHasher,
    tokens: AccessTokenCodec,
    rate_limit_defaults: Mapping[str, tuple[str, ...]] = DEFAULT_LIMITS,
    dispute_decisions: DisputeDecisions | None = None,
    intent_changes: IntentFeed | None = None,
    key_changes: KeyChanges | None = None,
    metrics: Metrics | None = None,
    risk_observer: RiskObserver | None = None,
    payments_observer: PaymentsObserver | None = None,
) -> App:
    """The use-cases over the given adapters: build_app's wiring, and the tests'.

    Without `intent_changes`, watches see the intent when they start and nothing after
    (tests that do not watch); build_app passes the PostgreSQL feed. Without
    `key_changes`, a key changed by another process is trusted for up to KEY_CACHE_TTL.

    The acquirers are reached through the cardholder-data zone (servers/bootstrap/zone.py):
    the vault role's when settings.vault_target is set, else the zone in this process, over
    clients of the acquirer role (settings.acquirer_target: every process then sees the
    same acquirer books) or simulators in this process.
    """
    metrics = metrics or Metrics()
    settle_collect = _LateBound()
    acquirers = zone_access(
        settings,
        card_vault,
        clock=clock,
        on_complete=settle_collect,
        request_id=call.request_id.get,
    )
    router = TableRouter(
        metered_acquirers(
            {
                CARD_NETWORK: acquirers.card_network,
                UPI_SWITCH: acquirers.upi_switch,
                **acquirers.others,
            },
            metrics,
        ),
        routing_table(settings),
    )
    routing_observer = payments_observer or metrics
    breakers = Breakers(clock, breaker_policy(settings), on_change=routing_observer.breaker_changed)
    policy = PaymentPolicy(max_failed_attempts=settings.max_failed_attempts)
    ledger_hooks = LedgerHooks(ids, TermsCache(clock))
    webhooks = webhook_policy(settings)
    outbox = EventOutbox(ids, ApiRenderer(), CallContext(), webhooks)
    announce = PaymentOutbox(outbox)
    # The ledger's postings, then the events: both in the state change's transaction.
    books = Recorders(LedgerBookkeeping(ledger_hooks), announce)
    guard = UrlGuard(
        UrlPolicy(parse_webhook_networks(settings.webhook_allowed_networks)), SystemResolver()
    )
    http_sender = HttpxSender(max_connections=settings.webhook_max_in_flight)
    sender = MeteredSender(http_sender, metrics)
    stream = RedisEventStream(settings.redis_url) if settings.redis_url else None
    risk = risk_engine(settings, uow, clock, observer=risk_observer or metrics)
    payments = PaymentLifecycle(
        uow,
        ids,
        clock,
        vault=card_vault,
        acquirers=router,
        policy=policy,
        books=books,
        observer=metrics,
        risk=risk.engine,
        breakers=breakers,
        routing_observer=routing_observer,
    )

    async def sync_collect(result: AuthorizationResult) -> None:
        # The in-process switch's completion callback, as a PSP's webhook would be: settle
        # at once instead of waiting for the poller (which stays the fallback, and is the
        # only way when the switch is the acquirer role's).
        await payments.sync_attempt(result.attempt_reference)

    settle_collect.target = sync_collect
    api_keys = ApiKeys(uow, ids, clock, changes=key_changes)
    auth = Auth(uow, ids, clock, hasher, tokens)
    rate_limits = RateLimits(
        MeteredRateLimiter(limiter, metrics), uow, clock, defaults=rate_limit_defaults
    )
    profiles = ProfileCache(clock)  # shared: a profile changed here is forgotten at once
    intents = PaymentIntents(uow, ids, clock, books=announce, profiles=profiles)
    changes = intent_changes or MemoryIntentChanges()
    return App(
        api_keys=api_keys,
        payment_intents=intents,
        payments=payments,
        challenges=Challenges(uow, payments),
        checkout=HostedCheckout(uow, clock),
        checkout_base_url=settings.web_url,
        intent_watch=IntentWatch(intents, changes, max_seconds=settings.watch_max_seconds),
        refunds=Refunds(uow, ids, clock, acquirers=router, books=books),
        auth=auth,
        members=Members(uow, ids, clock),
        gate=AccessGate(api_keys, auth, rate_limits),
        card_vault=card_vault,
        balances=Balances(uow),
        payouts=Payouts(uow, ids, clock, events=outbox),
        settlements=Settlements(uow),
        disputes=Disputes(
            uow, ids, clock, dispute_decisions or SimulatedDisputeDecisions(), events=outbox
        ),
        settlement_batch=SettlementBatch(uow, ids, events=outbox),
        events=Events(uow, clock),
        webhook_endpoints=WebhookEndpoints(uow, ids, clock, guard, webhooks),
        webhook_dispatcher=WebhookDispatcher(
            uow,
            ids,
            clock,
            sender=sender,
            guard=guard,
            outbox=outbox,
            policy=webhooks,
            random=random.random,
            bodies={SignatureScheme.STRIPE: stripe_render.webhook_body},
        ),
        event_maintenance=EventMaintenance(uow, clock, webhooks, stream),
        event_outbox=outbox,
        business_profiles=BusinessProfiles(uow, clock, profiles),
        analytics=Analytics(uow),
        audit_log=AuditLogReader(uow, clock),
        notifications=Notifications(
            uow, ids, clock, smtp_mailer(settings), locale=settings.mail_locale
        ),
        listen_poll_seconds=settings.listen_poll_seconds,
        ledger_hooks=ledger_hooks,
        dispute_feed=acquirers.disputes,
        acquirers=acquirers,
        risk_settings=risk.settings,
        closers=[
            acquirers.aclose,
            http_sender.aclose,
            *([stream.aclose] if stream else []),
            *risk.closers,
        ],
        stoppers=[changes.aclose],
        metrics=metrics,
    )


def build_app(settings: Settings, database_url: str, metrics: Metrics | None = None) -> App:
    engine = create_engine(
        database_url, pool_size=settings.db_pool_size, command_timeout=settings.db_command_timeout
    )
    metrics = metrics or Metrics()
    metrics.watch_pool("payments", partial(pool_stats, engine))
    ids, clock = RandomIds(), SystemClock()
    hash_key = settings.idempotency_hash_key.encode()
    if not hash_key:
        log.warning("PAYGATE_IDEMPOTENCY_HASH_KEY is not set: using the development key")
        hash_key = DEVELOPMENT_HASH_KEY
    # Redis in production, so that every API process counts against the same limits.
    # In-process without REDIS_URL: each API process then counts on its own.
    limiter = LimitsRateLimiter(settings.redis_url or "memory://")
    signing_key = (
        load_signing_key(settings.jwt_signing_key)
        if settings.jwt_signing_key
        else load_or_create_signing_key(settings.data_dir / "secrets" / "jwt-ed25519.pem")
    )
    tokens = JwtCodec(
        signing_key, clock, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    # Embedded, the vault uses VAULT_DATABASE_URL or else this database (its own schema).
    vault = vault_access(dataclasses.replace(settings, database_url=database_url))
    if not settings.webhook_secret_key.reveal():
        log.warning(
            "PAYGATE_WEBHOOK_SECRET_KEY is not set: webhook secrets use the development key"
        )
    # Listens only once a role that authenticates API keys starts it.
    key_changes = PostgresKeyChanges(database_url)
    app = assemble(
        settings,
        SqlUnitOfWorkFactory(
            engine,
            fx_max_age=timedelta(hours=settings.fx_max_age_hours),
            secret_box=SecretBox(settings.webhook_secret_key.reveal()),
        ),
        ids,
        clock,
        card_vault=vault.cards,
        limiter=limiter,
        hasher=Argon2Hasher(),
        tokens=tokens,
        # Connects on the first watch only: roles that never watch open nothing.
        intent_changes=PostgresIntentChanges(database_url),
        key_changes=key_changes,
        metrics=metrics,
    )
    app.engine = engine
    app.key_changes = key_changes
    # Keys live in the gateway's database: a payment's own transactions may claim and
    # answer them (core/idempotency/call.py).
    app.idempotency = Idempotency(
        SqlIdempotencyStore(engine), clock, hash_key=hash_key, claims_in_transaction=True
    )
    app.trusted_proxies = parse_networks(settings.trusted_proxies)
    app.vault, app.vault_access = vault.api, vault
    app.closers += [key_changes.aclose, limiter.aclose, vault.aclose]
    return app


def smtp_mailer(settings: Settings) -> SmtpMailer | None:
    """The SMTP adapter when PAYGATE_SMTP_HOST is set; without it no email is sent."""
    if not settings.smtp_host:
        return None
    return SmtpMailer(
        SmtpSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_from,
        )
    )


def webhook_policy(settings: Settings) -> WebhookPolicy:
    return WebhookPolicy(
        schedule=parse_schedule(settings.webhook_retry_schedule),
        timeout=settings.webhook_timeout,
        lease_margin=settings.webhook_lease_margin_seconds,
        endpoint_concurrency=settings.webhook_endpoint_concurrency,
        disable_after=timedelta(seconds=settings.webhook_disable_after_seconds),
    )


class _LateBound:
    """A callback whose target is set after the object that calls it is built."""

    target: Callable[[AuthorizationResult], Awaitable[None]] | None = None

    async def __call__(self, result: AuthorizationResult) -> None:
        if self.target is not None:
            await self.target(result)
